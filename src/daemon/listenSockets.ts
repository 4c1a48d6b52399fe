import * as net from 'node:net';

/**
 * The listening sockets of one app, owned by the daemon for the app's whole
 * life. Workers receive a duplicate of each socket and accept on it
 * themselves (like cluster's SCHED_NONE): the daemon never accepts, so it is
 * never the bottleneck on connection churn, and a worker whose event loop is
 * stuck simply stops taking connections from the shared queue. Because the
 * daemon keeps its copy open, the kernel keeps queueing connections while
 * every worker restarts instead of refusing them.
 */

/** Node's internal TCP/Pipe handle: all the daemon needs of it. */
export interface ServerHandle {
  close(cb?: () => void): void;
  getsockname?(out: Record<string, unknown>): number;
}

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
  private readonly handles = new Map<string, { handle: ServerHandle; description: string }>();

  /** The handle for a listen() call, binding it the first time. Returns an errno (< 0) on failure. */
  acquire(query: ListenQuery): { key: string; handle: ServerHandle } | { key: string; errno: number } {
    // Port 0 sockets are told apart by the order of listen() calls, as in cluster.
    const key = `${query.address}:${query.port}:${query.addressType}:${query.fd}:${query.port === 0 ? query.index : 0}`;
    const existing = this.handles.get(key);
    if (existing) return { key, handle: existing.handle };
    const handle = createServerHandle(query.address, query.port, query.addressType, query.fd, query.flags);
    if (typeof handle === 'number') return { key, errno: handle };
    this.handles.set(key, { handle, description: describe(query, handle) });
    return { key, handle };
  }

  describe(): string[] {
    return [...this.handles.values()].map((h) => h.description);
  }

  get size(): number {
    return this.handles.size;
  }

  closeAll(): void {
    for (const { handle } of this.handles.values()) handle.close();
    this.handles.clear();
  }
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
