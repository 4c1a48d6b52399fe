import * as diagnostics from 'node:diagnostics_channel';
import * as net from 'node:net';
import { trackedServers } from './listenRegistry';

/**
 * Graceful drain of every server in the worker, without app code:
 *  1. close the listening sockets (the daemon keeps the shared socket open,
 *     so queued connections go to the other workers);
 *  2. responses in flight get `Connection: close`, and so does any request
 *     that still arrives on an open keep-alive connection;
 *  3. a connection that stays idle for `idleGraceMs` is closed. Closing an
 *     idle keep-alive connection at once races with a request the client may
 *     be sending at that moment; waiting a little lets a busy client's next
 *     request arrive and be answered with `Connection: close` instead.
 * Upgraded connections (WebSockets) are no HTTP any more and are left alone
 * here: the app closes them itself (see closeUpgraded).
 */
export interface DrainResult {
  /** Requests that were in flight or arrived while draining, all answered. */
  finished: number;
  /** Idle keep-alive connections closed. */
  closedIdle: number;
  /** Connections still open when the deadline came. */
  remaining: number;
}

export interface ServerSocket extends net.Socket {
  server?: net.Server;
  /** Node's HTTP parser; null once the connection was upgraded (and while none is attached). */
  parser?: unknown;
  _httpMessage?: { headersSent: boolean; setHeader(name: string, value: string): void; writableEnded?: boolean } | null;
}

interface RequestStart {
  socket: ServerSocket;
  response: { headersSent: boolean; setHeader(name: string, value: string): void };
}

const POLL_MS = 25;

/** Node's list of live handles; not public API but present on 20 through 26. */
function activeHandles(): unknown[] {
  const get = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  return typeof get === 'function' ? get.call(process) : [];
}

export function listeningServers(): net.Server[] {
  const found = activeHandles().filter((h): h is net.Server => h instanceof net.Server && h.listening);
  // Round-robin servers (sticky apps) own no handle; the listen registry knows them.
  for (const server of trackedServers()) if (!found.includes(server)) found.push(server);
  return found;
}

/**
 * How many servers listen, for the answer to every ping (once a second). The
 * listen registry knows them without walking every handle, which with
 * thousands of open connections would be a scan per second; only when it
 * knows none (Node without the listen channel, or really none left) are the
 * handles walked.
 */
export function listeningServerCount(): number {
  const tracked = trackedServers().length;
  return tracked > 0 ? tracked : listeningServers().length;
}

function allServerSockets(): ServerSocket[] {
  return activeHandles().filter((h): h is ServerSocket =>
    h instanceof net.Socket && (h as ServerSocket).server instanceof net.Server && !h.destroyed);
}

export function isHttpServer(server: net.Server | undefined): boolean {
  // http.Server and https.Server both mark themselves with this listener.
  return server !== undefined && server.listenerCount('request') > 0;
}

/**
 * An HTTP server's connection handed to an 'upgrade' listener (ws, socket.io):
 * Node freed its parser and it has no response. An HTTP connection always
 * has a parser, idle or not.
 */
function isUpgraded(socket: ServerSocket): boolean {
  return isHttpServer(socket.server) && !socket.parser && !socket._httpMessage;
}

/** Server-side connections the HTTP drain waits for: every one but upgraded connections. */
export function serverSockets(): ServerSocket[] {
  return allServerSockets().filter((s) => !isUpgraded(s));
}

export function upgradedSockets(): net.Socket[] {
  return allServerSockets().filter(isUpgraded);
}

export interface UpgradedResult {
  /** Upgraded connections that the app (or its client) closed before `deadline`. */
  closedByApp: number;
  /** Those still open at `deadline`, closed by herd. */
  closedByHerd: number;
}

/**
 * After HTTP drained: wait until the app has closed its upgraded connections
 * (a WebSocket app sends close frames from an onShutdown hook or its SIGTERM
 * handler), then close the ones left at `deadline`.
 */
export async function closeUpgraded(deadline: number): Promise<UpgradedResult> {
  const open = new Set(upgradedSockets());
  const result: UpgradedResult = { closedByApp: 0, closedByHerd: 0 };
  for (;;) {
    // New ones count too: an upgrade request may have been in flight.
    for (const s of upgradedSockets()) open.add(s);
    for (const s of open) {
      if (s.destroyed) {
        open.delete(s);
        result.closedByApp++;
      }
    }
    if (open.size === 0 || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  for (const s of open) {
    s.destroy();
    result.closedByHerd++;
  }
  return result;
}

export async function drainServers(deadline: number, idleGraceMs = 250): Promise<DrainResult> {
  for (const server of listeningServers()) {
    // net.Server's close, not http.Server's: the latter would drop idle
    // keep-alive connections at once, which races with requests in transit.
    net.Server.prototype.close.call(server);
  }
  const turned = await turnOverConnections(() => true, deadline, idleGraceMs);
  return { finished: turned.answeredWithClose, closedIdle: turned.closedIdle, remaining: turned.open };
}

export interface TurnOver {
  /** Requests in flight or arriving meanwhile, answered with `Connection: close`. */
  answeredWithClose: number;
  /** Idle keep-alive connections closed. */
  closedIdle: number;
  /** Connections of these servers still open at the deadline. */
  open: number;
}

/**
 * Send the keep-alive clients of the servers `ours` picks elsewhere (steps 2
 * and 3 above): a drain, and a worker taken out of rotation, do this.
 */
export async function turnOverConnections(ours: (socket: ServerSocket) => boolean, deadline: number, idleGraceMs: number): Promise<TurnOver> {
  const result: TurnOver = { answeredWithClose: 0, closedIdle: 0, open: 0 };
  const active = new WeakSet<net.Socket>();
  const onRequest = (message: unknown) => {
    const { socket, response } = message as RequestStart;
    if (!ours(socket)) return;
    active.add(socket);
    result.answeredWithClose++;
    if (!response.headersSent) response.setHeader('connection', 'close');
  };
  const channel = diagnostics.channel('http.server.request.start');
  channel.subscribe(onRequest);
  try {
    const started = Date.now();
    for (const socket of serverSockets().filter(ours)) {
      const res = socket._httpMessage;
      if (res && !res.writableEnded) {
        active.add(socket);
        result.answeredWithClose++;
        if (!res.headersSent) res.setHeader('connection', 'close');
      }
    }
    for (;;) {
      const sockets = serverSockets().filter(ours);
      result.open = sockets.length;
      if (sockets.length === 0 || Date.now() >= deadline) break;
      if (Date.now() - started >= idleGraceMs) {
        for (const socket of sockets) {
          if (isHttpServer(socket.server) && !socket._httpMessage && !active.has(socket)) {
            socket.destroy();
            result.closedIdle++;
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  } finally {
    channel.unsubscribe(onRequest);
  }
  return result;
}
