import { timingSafeEqual } from 'node:crypto';

/** Compare a presented secret with the expected one in constant time (for equal lengths). */
export function secretMatches(given: string | undefined | null, wanted: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(wanted);
  return a.length === b.length && timingSafeEqual(a, b);
}
