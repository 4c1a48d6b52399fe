import * as diagnostics from 'node:diagnostics_channel';
import type * as net from 'node:net';
import { listeningServers } from './drain';

/**
 * What a fork-mode worker listens on, seen from inside. In cluster mode the
 * daemon binds every socket and hears of each listen() through the cluster
 * protocol; a fork-mode worker binds its own, so the agent tells the daemon
 * (readiness, `herd describe`) and hands it a copy of each TCP socket. The
 * next worker of the app (a reload, a restart after a crash) receives those
 * copies as inherited fds and its listen() adopts the same socket instead of
 * failing with EADDRINUSE while the old worker still drains: connections
 * queue in the kernel meanwhile, none is refused.
 *
 * Node publishes every net.Server.listen() on the `net.server.listen` tracing
 * channel (an app's http server, Express, Fastify, and the round-robin
 * handles of an app's own cluster primary alike), so nothing is patched.
 */

/** A listening socket inherited from the daemon: `fd` in this process, for listen() calls with this key. */
export interface InheritedSocket {
  fd: number;
  key: string;
}

export interface Listening {
  /** `*:3000`, `127.0.0.1:8080`, or a pipe's path. */
  address: string;
  /** The listen() call it answers (host and port as asked), when the socket can be handed on. */
  key: string | null;
  /** The server's native handle, sent to the daemon with the message. */
  handle: unknown;
}

interface ListenOptions {
  port?: unknown;
  host?: unknown;
  fd?: unknown;
  path?: unknown;
}

/** The key of a listen() call whose socket a later worker can adopt: TCP on a fixed port. */
export function listenKey(options: ListenOptions): string | null {
  if (typeof options.fd === 'number' || typeof options.path === 'string') return null;
  const port = Number(options.port);
  if (!Number.isInteger(port) || port <= 0) return null;
  const host = typeof options.host === 'string' ? options.host : '';
  return `${host}|${port}`;
}

export function describeAddress(server: net.Server): string {
  const address = server.address();
  if (address === null) return '?';
  if (typeof address === 'string') return address;
  const host = address.address === '::' || address.address === '0.0.0.0' ? '*' : address.address;
  return `${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

/** HERD_LISTEN_FDS as the daemon wrote it; malformed entries are ignored. */
export function parseInherited(raw: string | undefined): InheritedSocket[] {
  if (!raw) return [];
  try {
    const list = JSON.parse(raw) as unknown;
    if (!Array.isArray(list)) return [];
    return list.filter((s): s is InheritedSocket =>
      typeof s === 'object' && s !== null && Number.isInteger((s as InheritedSocket).fd) && typeof (s as InheritedSocket).key === 'string');
  } catch {
    return [];
  }
}

export class ListenWatch {
  private readonly keys = new WeakMap<net.Server, string | null>();
  private readonly seen = new WeakSet<net.Server>();
  private readonly unused: Map<string, number>;
  private pending = 0;
  private reported = 0;
  /** Each server reported and the native handle it listened with. */
  private readonly handles: { server: net.Server; handle: { close(): void } }[] = [];

  constructor(inherited: InheritedSocket[], private readonly report: (l: Listening) => void) {
    this.unused = new Map(inherited.map((s) => [s.key, s.fd]));
  }

  start(): void {
    diagnostics.subscribe('tracing:net.server.listen:asyncStart', this.onStart);
    diagnostics.subscribe('tracing:net.server.listen:asyncEnd', this.onEnd);
    diagnostics.subscribe('tracing:net.server.listen:error', this.onError);
  }

  /** Listen calls under way (a host name being resolved); readiness waits for them. */
  get inProgress(): boolean {
    return this.pending > 0;
  }

  get count(): number {
    return this.reported;
  }

  /**
   * Stop accepting on sockets whose server let go of its handle: Node's
   * cluster primary takes the handle of each round-robin server it listens
   * with (an app that clusters itself), so the drain, which closes listening
   * servers, does not see it. Closed here, the primary accepts no connection
   * it could not hand to a worker that is shutting down.
   */
  closeDetached(): void {

    for (const { server, handle } of this.handles.splice(0)) {
      if ((server as unknown as { _handle?: unknown })._handle !== handle) handle.close();
    }
  }

  /**
   * Servers that listen without the channel having told us (a Node release
   * older than the channel: the first 22.x, older 20.x, an app's own older
   * interpreter): found among the live handles instead.
   */
  sweep(): void {
    for (const server of listeningServers()) this.found(server);
  }

  private readonly onStart = (message: unknown): void => {
    const { server, options } = message as { server: net.Server; options: ListenOptions };
    const key = listenKey(options);
    this.keys.set(server, key);
    this.pending++;
    const fd = key === null ? undefined : this.unused.get(key);
    if (key !== null && fd !== undefined) {
      this.unused.delete(key);
      // listen() reads `fd` right after publishing this event, before host
      // and port: the app's server takes the socket the previous worker
      // listened on, exactly as `server.listen({ fd })` would. This is the
      // one place the agent changes what app code does, and only the options
      // object of this one call; without it a reload of a fork-mode app
      // fails with EADDRINUSE or refuses connections between the workers.
      (options as { fd?: number }).fd = fd;
    }
  };

  private readonly onEnd = (message: unknown): void => {
    const { server } = message as { server: net.Server };
    this.pending = Math.max(0, this.pending - 1);
    this.found(server);
  };

  private readonly onError = (): void => {
    this.pending = Math.max(0, this.pending - 1);
  };

  private found(server: net.Server): void {
    if (this.seen.has(server)) return;
    this.seen.add(server);
    this.reported++;
    const key = this.keys.get(server) ?? null;
    const handle = (server as unknown as { _handle?: { close(): void } })._handle ?? null;
    if (handle) this.handles.push({ server, handle });
    this.report({ address: describeAddress(server), key: handle ? key : null, handle });
  }
}
