import type { ServerHandle } from './listenSockets';

/**
 * Copies of the sockets a fork-mode app's workers listen on. A fork-mode
 * worker binds its own socket (it is a plain process: `cluster.isPrimary`,
 * and an app that clusters itself must be able to), and its agent sends the
 * daemon a copy. Each new worker of the app inherits the copies and its
 * listen() on the same host and port adopts the socket, so a reload or a
 * restart hands the port from worker to worker with connections queueing in
 * the kernel instead of EADDRINUSE or refused connections. The copies are
 * closed when the app stops, so the port is released.
 */
interface Kept {
  handle: ServerHandle & { fd?: number };
}

export class ForkSockets {
  private readonly kept = new Map<string, Kept>();

  /** A worker listens for the listen() call `key` (host|port); keep the first copy of each socket. */
  keep(key: string, handle: unknown): void {
    const h = handle as Kept['handle'];
    if (this.kept.has(key) || typeof h?.close !== 'function' || typeof h.fd !== 'number' || h.fd < 0) {
      (h as Partial<ServerHandle> | null)?.close?.();
      return;
    }
    this.kept.set(key, { handle: h });
  }

  /** What a new worker inherits: the fds here and the listen() calls they answer. */
  inheritable(): { key: string; fd: number }[] {
    return [...this.kept.entries()].map(([key, k]) => ({ key, fd: k.handle.fd as number }));
  }

  /** Close the copies no current worker listens on any more (the new version moved to another port). */
  retain(keys: Set<string>): void {
    for (const [key, k] of this.kept) {
      if (keys.has(key)) continue;
      k.handle.close();
      this.kept.delete(key);
    }
  }

  closeAll(): void {
    this.retain(new Set());
  }
}
