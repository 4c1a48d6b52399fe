/**
 * When chaos strikes and whom it picks, from one seeded PRNG: the same seed
 * against the same app gives the same gaps and the same choices (as long as
 * the same workers are online at each kill), so a run that found a problem
 * can be repeated.
 */

/** mulberry32: a small, fast 32-bit PRNG; plenty for picking victims. Returns [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class ChaosSchedule {
  private readonly random: () => number;

  constructor(seed: number, private readonly everyMs: number) {
    this.random = mulberry32(seed);
  }

  /** The gap before the next kill: uniform between half and one and a half of --every, so its mean is --every. */
  nextGapMs(): number {
    return Math.round(this.everyMs * (0.5 + this.random()));
  }

  /**
   * One of `targets`, uniformly; null when there is none. Callers pass them
   * in a stable order (workers by id, then the daemon) so a seed repeats.
   */
  pick<T>(targets: readonly T[]): T | null {
    if (targets.length === 0) return null;
    const i = Math.min(targets.length - 1, Math.floor(this.random() * targets.length));
    return targets[i] as T;
  }
}
