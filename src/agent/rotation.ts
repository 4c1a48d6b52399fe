import * as diagnostics from 'node:diagnostics_channel';
import type * as net from 'node:net';
import { listeningServers, turnOverConnections } from './drain';

/**
 * Taking a cluster worker out of rotation for a moment, and putting it back:
 * what `herd heap` does around a heap snapshot, which blocks the worker's
 * event loop for seconds. The worker's servers accept from the app's shared
 * socket, which the daemon holds: a worker whose native listening handle is
 * closed takes no new connection, and the other workers take them all (none
 * is refused: the daemon's copy keeps the socket listening). Its keep-alive
 * connections are turned over as a drain does it: responses in flight and
 * requests that still come get `Connection: close`, connections idle for
 * `idleGraceMs` are closed, so their clients reconnect to another worker.
 * Putting it back listens again with the options the app's listen() had:
 * the daemon answers with the same shared socket.
 *
 * The app sees none of this but a second 'listening' event on its server:
 * the server object stays as it is, and it emits no 'close' (a held count
 * of one connection keeps Node from emitting it while the handle is away).
 *
 * The daemon calls `pause` and `resume` through the worker's inspector
 * (Runtime.evaluate on ROTATION_GLOBAL), the connection the snapshot is
 * taken on, so no message through the app's shim is needed. A worker left
 * paused (the daemon died mid-snapshot) puts itself back after `maxMs`.
 */
export const ROTATION_GLOBAL = Symbol.for('herd.rotation');

export interface PauseResult {
  /** Servers that stopped accepting. */
  paused: number;
  /** Listening servers left accepting, and why (a server on port 0, one that listened before the agent could see it). */
  skipped: string[];
  /** Idle keep-alive connections closed, and requests answered with `Connection: close`. */
  closedIdle: number;
  answeredWithClose: number;
  /** Connections still open when the grace ended (a long request, a WebSocket): they wait for the pause. */
  open: number;
}

export interface ResumeResult {
  /** Servers accepting again. */
  resumed: number;
  errors: string[];
}

interface ListenOptions {
  port?: unknown;
  host?: unknown;
  path?: unknown;
  fd?: unknown;
  backlog?: unknown;
  exclusive?: unknown;
  ipv6Only?: unknown;
  reusePort?: unknown;
  readableAll?: unknown;
  writableAll?: unknown;
}

interface ServerInternals {
  _handle: { close(): void } | null;
  _connections: number;
}

const LISTEN_TIMEOUT_MS = 5000;

export class Rotation {
  private readonly options = new WeakMap<net.Server, ListenOptions>();
  private paused: { server: net.Server; options: ListenOptions }[] = [];
  private selfResume: NodeJS.Timeout | null = null;

  constructor(private readonly shuttingDown: () => boolean) {}

  /** Remember each listen()'s options (before the app's code runs, in the agent's preload). */
  start(): void {
    diagnostics.subscribe('tracing:net.server.listen:asyncStart', (message: unknown) => {
      const { server, options } = message as { server?: net.Server; options?: ListenOptions };
      if (server && options) this.options.set(server, { ...options });
    });
  }

  async pause(maxMs: number, graceMs = 1000, idleGraceMs = 250): Promise<PauseResult> {
    if (this.paused.length > 0) throw new Error('this worker is out of rotation already (another snapshot?)');
    const result: PauseResult = { paused: 0, skipped: [], closedIdle: 0, answeredWithClose: 0, open: 0 };
    for (const server of listeningServers()) {
      const options = this.options.get(server);
      const internals = server as unknown as ServerInternals;
      const port = Number(options?.port);
      if (!options || typeof options.fd === 'number' || (typeof options.path !== 'string' && !(port > 0))) {
        result.skipped.push(options ? 'a server on port 0 or an fd (it could not listen on the same socket again)' : 'a server whose listen() the agent did not see');
        continue;
      }
      const handle = internals._handle;
      if (!handle) continue;
      // Held: with no handle and no connection, Node would emit 'close' on the app's server.
      internals._connections++;
      internals._handle = null;
      handle.close();
      this.paused.push({ server, options });
      result.paused++;
    }
    if (this.paused.length === 0) return result;
    this.lease(maxMs);
    const servers = new Set(this.paused.map((p) => p.server));
    const turned = await turnOverConnections((socket) => socket.server !== undefined && servers.has(socket.server), Date.now() + graceMs, idleGraceMs);
    Object.assign(result, turned);
    return result;
  }

  /** Push the self-resume back to `maxMs` from now; false when not out of rotation. */
  renew(maxMs: number): boolean {
    if (this.paused.length === 0) return false;
    this.lease(maxMs);
    return true;
  }

  private lease(maxMs: number): void {
    if (this.selfResume) clearTimeout(this.selfResume);
    // Unref'd: a worker that is otherwise done does not stay alive for it.
    this.selfResume = setTimeout(() => void this.resume(), maxMs);
    this.selfResume.unref();
  }

  async resume(): Promise<ResumeResult> {
    if (this.selfResume) clearTimeout(this.selfResume);
    this.selfResume = null;
    const result: ResumeResult = { resumed: 0, errors: [] };
    for (const { server, options } of this.paused.splice(0)) {
      const internals = server as unknown as ServerInternals;
      if (this.shuttingDown()) {
        // The worker drains: it stays out, and the server may close now.
        internals._connections--;
        (server as unknown as { _emitCloseIfDrained(): void })._emitCloseIfDrained();
        continue;
      }
      try {
        await listenAgain(server, options);
        result.resumed++;
      } catch (err) {
        result.errors.push((err as Error).message);
      } finally {
        internals._connections--;
      }
    }
    return result;
  }
}

/** listen() again as the app did; in a cluster worker the daemon answers with the app's shared socket. */
function listenAgain(server: net.Server, options: ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      clearTimeout(timer);
      server.off('listening', onListening);
      server.off('error', onError);
      if (err) reject(err);
      else resolve();
    };
    const onListening = () => done();
    const onError = (err: Error) => done(err);
    const timer = setTimeout(() => done(new Error(`not listening again within ${LISTEN_TIMEOUT_MS}ms`)), LISTEN_TIMEOUT_MS);
    server.once('listening', onListening);
    server.once('error', onError);
    server.listen({ ...options } as net.ListenOptions);
  });
}
