/**
 * Route names for per-route stats when the framework does not say which
 * pattern matched: the path without its query, with segments that look like
 * ids (numbers, UUIDs, long hex or mixed tokens) replaced by ':id', so
 * /users/42 and /users/43 count as one route.
 */

const NUMERIC = /^\d+$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX = /^(?=.*\d)[0-9a-f]{8,}$/i;
/** Long tokens mixing letters and digits (slugs with ids, base64 ids). */
const TOKEN = /^(?=.*\d)(?=.*[a-z])[\w-]{16,}$/i;
const MAX_SEGMENTS = 8;
const MAX_LENGTH = 100;

export function normalisePath(url: string): string {
  const q = url.search(/[?#]/);
  const path = q === -1 ? url : url.slice(0, q);
  if (path === '/' || path === '') return '/';
  const parts = path.split('/');
  const out: string[] = [];
  for (let i = 0; i < parts.length && out.length <= MAX_SEGMENTS; i++) {
    const s = parts[i] as string;
    if (i > 0 && s === '' && i !== parts.length - 1) continue; // '//' collapses
    out.push(NUMERIC.test(s) || UUID.test(s) || HEX.test(s) || TOKEN.test(s) ? ':id' : s);
  }
  if (out.length > MAX_SEGMENTS) out.splice(MAX_SEGMENTS, out.length, '*');
  const joined = out.join('/');
  return joined.length > MAX_LENGTH ? `${joined.slice(0, MAX_LENGTH)}*` : joined;
}

/** The route every route past the limit is counted as. */
export const OVERFLOW_ROUTE = 'other';

/**
 * Remembers normalised paths so a hot URL is normalised once. Bounded: when
 * full it is cleared, which only costs re-normalising.
 */
export class PathCache {
  private readonly cache = new Map<string, string>();

  constructor(private readonly limit = 1000) {}

  get(url: string): string {
    let route = this.cache.get(url);
    if (route === undefined) {
      route = normalisePath(url);
      if (this.cache.size >= this.limit) this.cache.clear();
      this.cache.set(url, route);
    }
    return route;
  }
}
