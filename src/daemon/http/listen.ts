import type * as http from 'node:http';
import * as net from 'node:net';
import { releaseHeld } from '../../util/heldServer';
import type { HerdError } from '../../errors';

/** Where an endpoint listens. */
export interface ListenAt {
  port: number;
  host: string;
}

/** One of the daemon's HTTP endpoints, as its binding needs it. */
export interface Endpoint {
  /** What it is, for the daemon log ('the Prometheus endpoint'). */
  name: string;
  /** The error a failed bind rejects with: the endpoint's own code. */
  failure(address: string, reason: string): HerdError;
  /** A line for the daemon log. */
  note(line: string): void;
}

/** The daemon log, for an endpoint that is given no other. */
export function daemonNote(line: string): void {
  console.error(`${new Date().toISOString()} herd: ${line}`);
}

/**
 * Serve an endpoint from `next` instead of the server it has now. `next` is
 * bound first and only then is the old one closed (`closeOld`): a port that
 * is taken, or a host that is not local, leaves the old one serving, and the
 * caller gets the endpoint's error naming the address.
 */
export async function rebind(next: http.Server, at: ListenAt, endpoint: Endpoint, closeOld: () => Promise<void>): Promise<void> {
  await listen(next, at, endpoint);
  await closeOld();
}

/**
 * Listening sockets a daemon was handed by the one it replaces (`herd
 * update`), by the address they listen on. An endpoint that listens there
 * takes the socket over instead of binding it: nothing is refused meanwhile.
 */
const inherited = new Map<string, net.Server>();

export function inheritListening(at: ListenAt, handle: net.Server): void {
  inherited.set(`${at.host}:${at.port}`, handle);
}

/**
 * Listen with `server` on `at`. From then on its errors (EMFILE on accept,
 * say) are noted in the daemon log: an 'error' event with no listener would
 * be an uncaught exception in the daemon.
 */
export function listen(server: http.Server, at: ListenAt, endpoint: Endpoint): Promise<void> {
  const address = `${at.host}:${at.port}`;
  return new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => reject(endpoint.failure(address, err.message));
    server.once('error', failed);
    const onListening = () => {
      server.off('error', failed);
      const bound = server.address();
      const where = bound !== null && typeof bound === 'object' ? `${at.host}:${bound.port}` : address;
      server.on('error', (err) => endpoint.note(`${endpoint.name} on ${where}: ${err.message}`));
      resolve();
    };
    const handed = inherited.get(address);
    if (handed) {
      inherited.delete(address);
      // The socket the old daemon listened on: its _handle becomes this server's, with what it accepted meanwhile.
      server.listen(handed, () => {
        for (const socket of releaseHeld(handed)) server.emit('connection', socket);
        onListening();
      });
      return;
    }
    try {
      server.listen(at.port, at.host, onListening);
    } catch (err) {
      // A port out of range throws here instead of emitting 'error'.
      server.off('error', failed);
      failed(err as Error);
    }
  });
}

/** Stop serving: no new connections, and the open ones (idle keep-alive too) are ended so close() does not wait on them. */
export function closeServer(server: http.Server | null): Promise<void> {
  if (!server) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** `settings` with the port the server is bound to (port 0 asked for one). */
export function withBoundPort<T extends ListenAt>(settings: T, server: http.Server): T {
  const bound = server.address();
  return bound !== null && typeof bound === 'object' ? { ...settings, port: bound.port } : settings;
}

/**
 * Stop accepting and let the requests in flight finish (`herd update`: the
 * next daemon accepts on the same socket already). net.Server's own close
 * is used: http.Server's also closes the connections with no request in
 * flight, and a connection just accepted, whose request has not been read
 * yet, is one of them (its client would get a hang-up). Each response from
 * now on closes its connection; connections still open after `graceMs`
 * (idle keep-alive ones) are closed then.
 */
export function retireServer(server: http.Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      res.shouldKeepAlive = false;
    });
    const timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
    (net.Server.prototype.close as (this: net.Server, cb: () => void) => net.Server).call(server, () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
