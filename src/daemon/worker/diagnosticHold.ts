/**
 * Workers whose event loop is blocked on purpose (a heap snapshot): the
 * stall watchdog and health checks leave them alone meanwhile, and count a
 * worker's silence from the moment it was let go, not from its last pong.
 */
const held = new WeakMap<object, number>();
const releasedAt = new WeakMap<object, number>();

export function holdWorker(worker: object): () => void {
  held.set(worker, (held.get(worker) ?? 0) + 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const left = (held.get(worker) ?? 1) - 1;
    if (left > 0) held.set(worker, left);
    else held.delete(worker);
    releasedAt.set(worker, Date.now());
  };
}

export function isHeld(worker: object): boolean {
  return held.has(worker);
}

/** When the worker was last let go (0: never held). */
export function releasedSince(worker: object): number {
  return releasedAt.get(worker) ?? 0;
}

/** Held now, or let go less than `withinMs` ago. */
export function heldRecently(worker: object, now: number, withinMs: number): boolean {
  const at = releasedAt.get(worker);
  return held.has(worker) || (at !== undefined && now - at < withinMs);
}
