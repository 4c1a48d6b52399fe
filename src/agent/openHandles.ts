/**
 * What keeps a worker alive after its shutdown, for the daemon's event when
 * the agent has to end it at the deadline: Node's list of the resources that
 * keep the event loop alive (`Timeout`, `TCPSocketWrap`, `TCPServerWrap`...).
 * Unref'd ones (the agent's own deadline timer, the released IPC channel)
 * are not in it.
 */
export function openHandles(): string[] {
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
  return typeof info === 'function' ? info.call(process) : [];
}
