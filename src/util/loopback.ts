const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** An address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host);
}
