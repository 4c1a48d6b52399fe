import * as net from 'node:net';
import type { StickyStats } from '../../protocol/control';
import { StickyRouter, type AcceptingHandle } from './stickyRouter';

/**
 * The listening sockets of one app, owned by the daemon for the app's whole
 * life. Workers receive a duplicate of each socket and accept on it
 * themselves (like cluster's SCHED_NONE): the daemon never accepts, so it is
 * never the bottleneck on connection churn, and a worker whose event loop is
 * stuck simply stops taking connections from the shared queue. Because the
 * daemon keeps its copy open, the kernel keeps queueing connections while
 * every worker restarts instead of refusing them.
 *
 * A sticky app's TCP and Unix sockets are the exception: the daemon accepts
 * on them itself and its StickyRouter hands each connection to a worker by
 * the client's address. The mode is chosen when a socket is bound and kept
 * while it stays bound (a listening socket cannot stop listening).
 */

/** Node's internal TCP/Pipe handle: all the daemon needs of it. */
export interface ServerHandle extends AcceptingHandle {
  close(cb?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
  /** The file descriptor (Unix); -1 when closed. */
  readonly fd?: number;
}

interface Entry {
  handle: ServerHandle;
  description: string;
  /** The port it is bound to (the one the kernel picked for port 0); null for a pipe. */
  port: number | null;
  addressType: number;
  /** A worker listened on it: bound is not enough (with SO_REUSEADDR a bind can succeed where listen() then fails). */
  listened: boolean;
  /** Sticky: the daemon accepts and routes its connections. */
  routed: boolean;
}

/** What the app wants of its sockets, read when one is bound. */
export interface SocketSettings {
  sticky: boolean;
  /** ms a sticky connection may wait for a ready worker. */
  holdMs: number;
}

export type Acquired =
  /** Give the worker a duplicate of the handle; it accepts on it. */
  | { kind: 'shared'; key: string; handle: ServerHandle }
  /** The daemon accepts; the worker gets connections one by one (sockname: the bound address, for server.address()). */
  | { kind: 'routed'; key: string; sockname: Record<string, unknown> | null }
  | { kind: 'failed'; key: string; errno: number };

export interface ListenQuery {
  address: string | null;
  port: number;
  addressType: number;
  fd: number | undefined;
  flags: number | undefined;
  index: number;
}

type CreateServerHandle = (
  address: string | null, port: number, addressType: number, fd: number | undefined, flags: number | undefined,
) => ServerHandle | number;

// Node's cluster primary binds with this same function; it is not public API
// but has been stable since Node 0.12 and exists on 20, 22 and 24.
const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

export class ListenSockets {
  private readonly handles = new Map<string, Entry>();
  /** Created with the first sticky socket, kept (with its counters) for the app's life. */
  private router: StickyRouter | null = null;

  constructor(private readonly settings: () => SocketSettings = () => ({ sticky: false, holdMs: 0 })) {}

  /** The handle for a listen() call, binding it the first time. */
  acquire(query: ListenQuery): Acquired {
    // Port 0 sockets are told apart by the order of listen() calls, as in cluster.
    const key = `${query.address}:${query.port}:${query.addressType}:${query.fd}:${query.port === 0 ? query.index : 0}`;
    const existing = this.handles.get(key);
    if (existing) return existing.routed ? { kind: 'routed', key, sockname: sockname(existing.handle) } : { kind: 'shared', key, handle: existing.handle };
    const handle = createServerHandle(query.address, query.port, query.addressType, query.fd, query.flags);
    if (typeof handle === 'number') return { kind: 'failed', key, errno: handle };
    // UDP (and anything but a stream socket) is never routed: it is connectionless.
    const routed = this.settings().sticky && [4, 6, -1].includes(query.addressType);
    if (routed) {
      const errno = this.stickyRouter().listen(key, handle);
      if (errno !== 0) {
        handle.close();
        return { kind: 'failed', key, errno };
      }
    }
    const description = describe(query, handle);
    const bound = boundPort(handle);
    this.handles.set(key, {
      handle,
      description: routed ? `${description} (sticky)` : description,
      port: query.addressType === -1 ? null : bound ?? query.port,
      addressType: query.addressType,
      // A routed socket is listened on by the daemon itself.
      listened: routed,
      routed,
    });
    return routed ? { kind: 'routed', key, sockname: sockname(handle) } : { kind: 'shared', key, handle };
  }

  /** The router of the sticky sockets; null when the app has none. */
  get sticky(): StickyRouter | null {
    return this.router;
  }

  stickyStats(): StickyStats | null {
    return this.router?.stats() ?? null;
  }

  /** A worker's server is listening (cluster's 'listening' message, which carries the bound port). */
  markListening(port: number, addressType: number, address: string | null): void {
    for (const entry of this.handles.values()) {
      if (entry.addressType !== addressType) continue;
      if (addressType === -1 ? entry.description === String(address) : entry.port === port) entry.listened = true;
    }
  }

  /** The sockets workers listen on; one bound but never listened on is not shown. */
  describe(): string[] {
    return [...this.handles.values()].filter((h) => h.listened).map((h) => h.description);
  }

  /** Close sockets no worker ever listened on, so a retry binds afresh instead of reusing a dead end. */
  closeUnlistened(): void {
    for (const [key, entry] of this.handles) {
      if (entry.listened) continue;
      entry.handle.close();
      this.handles.delete(key);
    }
  }

  /** File descriptors of the sockets in this (the daemon's) process, to tell which app holds a port. */
  fds(): number[] {
    return [...this.handles.values()].map((h) => h.handle.fd ?? -1).filter((fd) => fd >= 0);
  }

  get size(): number {
    return this.handles.size;
  }

  closeAll(): void {
    this.router?.close();
    for (const { handle } of this.handles.values()) handle.close();
    this.handles.clear();
  }

  private stickyRouter(): StickyRouter {
    this.router ??= new StickyRouter({ holdMs: () => this.settings().holdMs });
    return this.router;
  }
}

/** The bound address of a TCP handle, which a round-robin worker reports as server.address(); null for a pipe. */
function sockname(handle: ServerHandle): Record<string, unknown> | null {
  if (typeof handle.getsockname !== 'function') return null;
  const out: Record<string, unknown> = {};
  return handle.getsockname(out) === 0 ? out : null;
}

function boundPort(handle: ServerHandle): number | null {
  const out: Record<string, unknown> = {};
  return handle.getsockname && handle.getsockname(out) === 0 && typeof out.port === 'number' ? out.port : null;
}

function describe(query: ListenQuery, handle: ServerHandle): string {
  if (query.addressType === -1) return String(query.address);
  const out: Record<string, unknown> = {};
  if (handle.getsockname && handle.getsockname(out) === 0 && typeof out.port === 'number') {
    const addr = typeof out.address === 'string' ? out.address : '*';
    return `${addr.includes(':') ? `[${addr}]` : addr}:${out.port}`;
  }
  return `${query.address ?? '*'}:${query.port}`;
}
