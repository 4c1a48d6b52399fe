/**
 * One run per tick across the fleet: every host whose config has the job
 * computes the same tick (its scheduled time, epoch ms) and tries to set
 * `herd:fleet:job:<app>:<tickMs>` with NX; the host that sets it runs the
 * tick, the others read who did. The winner then takes a fencing token,
 * `INCR herd:fleet:jobfence:<app>`, which grows with every tick won, so a
 * job writing somewhere shared can refuse a write from an older run.
 *
 * Redis is reached through the small interface below, so a test can drive
 * this with a fake; FleetMember passes its own connection.
 */

/** The three commands a claim needs (ioredis' signatures, narrowed). */
export interface TickStore {
  set(key: string, value: string, px: 'PX', ttlMs: number, nx: 'NX'): Promise<'OK' | null>;
  get(key: string): Promise<string | null>;
  incr(key: string): Promise<number>;
}

export type TickClaim =
  | { won: true; fence: number }
  /** Another host claimed it first (`by`: its name, null when its key expired meanwhile). */
  | { won: false; by: string | null }
  /** Redis could not be asked: nobody knows who runs the tick. */
  | { won: false; error: string };

const PREFIX = 'herd:fleet:';
export const tickKey = (app: string, tickMs: number) => `${PREFIX}job:${app}:${tickMs}`;
export const fenceKey = (app: string) => `${PREFIX}jobfence:${app}`;

/**
 * Claim tick `tickMs` of `app` for `host`. The key lives `ttlMs`: long
 * enough that a host whose clock or timer is late by less than that still
 * finds it and does not run the tick again.
 */
export async function claimTick(store: TickStore, host: string, app: string, tickMs: number, ttlMs: number): Promise<TickClaim> {
  try {
    const set = await store.set(tickKey(app, tickMs), host, 'PX', Math.max(1, Math.round(ttlMs)), 'NX');
    if (set !== 'OK') return { won: false, by: await store.get(tickKey(app, tickMs)) };
    return { won: true, fence: await store.incr(fenceKey(app)) };
  } catch (err) {
    // Claimed but no token (Redis went away between the two): not run, as when the claim itself fails.
    return { won: false, error: (err as Error).message };
  }
}
