import * as diagnostics from 'node:diagnostics_channel';
import type * as net from 'node:net';

/**
 * Servers that listen without a socket of their own. A server in cluster
 * round-robin mode (a sticky app: the daemon accepts and sends it each
 * connection) has no libuv handle, so Node's list of active handles, where
 * the agent finds servers to drain and to health-check, does not show it.
 * Node publishes every completed listen() on this tracing channel (Node 24,
 * 26, and all but the first 22.x and older 20.x releases); servers are kept
 * until they close.
 */
const LISTEN_DONE = 'tracing:net.server.listen:asyncEnd';

const servers = new Set<net.Server>();

function onListen(message: unknown): void {
  const server = (message as { server?: net.Server }).server;
  if (!server || servers.has(server)) return;
  servers.add(server);
  server.once('close', () => servers.delete(server));
}

/** Subscribe before the app's code runs (the agent's preload); idempotent. */
export function trackListeningServers(): void {
  diagnostics.subscribe(LISTEN_DONE, onListen);
}

/** Servers seen listening and not closed since. */
export function trackedServers(): net.Server[] {
  return [...servers].filter((s) => s.listening);
}
