import { SELF_REQUEST } from './selfRequest';
import * as net from 'node:net';
import type { HttpProbe } from './httpProbe';

// Lines waiting for a daemon that does not read: beyond this they are dropped,
// never slowing the app down or growing its memory.
const MAX_PENDING = 1024 * 1024;

/**
 * The access log: one line per completed request, `METHOD URL STATUS
 * DURATIONms` (status 0 when the client left before a response), written to
 * the pipe at `fd` that the daemon reads. The pipe is non-blocking: a slow
 * reader costs the app nothing. Returns a function that stops it.
 */
export function startAccessLog(probe: HttpProbe, fd: number): () => void {
  const out = new net.Socket({ fd, readable: false, writable: true });
  out.on('error', () => undefined);
  // Logging must not keep a worker alive that has nothing else to do.
  out.unref();
  const off = probe.add((r) => {
    if (out.writableLength > MAX_PENDING || out.destroyed) return;
    // herd's own per-worker health checks are not the app's traffic.
    if ((r.request?.socket as unknown as Record<symbol, unknown> | undefined)?.[SELF_REQUEST] === true) return;
    out.write(`${r.method} ${r.url} ${r.status} ${r.durationMs.toFixed(1)}ms\n`);
  });
  return () => {
    off();
    out.end();
  };
}
