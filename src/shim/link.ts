import type { DaemonToShim, ShimToDaemon } from '../protocol/shim';

/** One end of the link between the daemon and an app's host. */
export interface LinkEnd<Out, In> {
  send(message: Out): void;
  /** Every message that arrives, in order. One handler per end. */
  onMessage(handler: (message: In) => void): void;
  /** Nothing is delivered any more, either way. */
  close(): void;
}

/** The daemon's end: it sends requests and reads events and replies. */
export type DaemonLink = LinkEnd<DaemonToShim, ShimToDaemon>;
/** The host's end. */
export type HostLink = LinkEnd<ShimToDaemon, DaemonToShim>;

/**
 * Both ends of a link inside one process (the daemon with its hosts in
 * process, `herd run`, unit tests). Each message is copied through JSON when
 * it is sent and delivered on a microtask, as if it had crossed a socket:
 * nothing that cannot cross one (a handle, a function, a shared object) and
 * no assumption of synchronous delivery can slip in unnoticed before the host
 * moves into a process of its own.
 */
export function memoryLink(): { daemon: DaemonLink; host: HostLink } {
  let closed = false;
  let toDaemon: ((message: ShimToDaemon) => void) | null = null;
  let toHost: ((message: DaemonToShim) => void) | null = null;
  const deliver = <T>(message: T, to: () => ((message: T) => void) | null): void => {
    if (closed) return;
    const copy = JSON.parse(JSON.stringify(message)) as T;
    queueMicrotask(() => {
      if (!closed) to()?.(copy);
    });
  };
  const close = () => {
    closed = true;
  };
  return {
    daemon: { send: (m) => deliver(m, () => toHost), onMessage: (h) => { toDaemon = h; }, close },
    host: { send: (m) => deliver(m, () => toDaemon), onMessage: (h) => { toHost = h; }, close },
  };
}
