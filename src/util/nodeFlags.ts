/**
 * The stall watchdog reads a stuck worker's stack with Node's WebSocket client
 * (see stackCapture.ts), global from Node 22 on; Node 20 has it behind a flag.
 */
export function webSocketFlag(): string[] {
  const flag = '--experimental-websocket';
  return !('WebSocket' in globalThis) && process.allowedNodeEnvironmentFlags.has(flag) ? [flag] : [];
}
