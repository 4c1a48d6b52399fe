import assert from 'node:assert/strict';
import { test } from 'node:test';
import { claimTick, fenceKey, tickKey, type TickStore } from '../../src/fleet/jobLock';

/** Redis' SET NX PX, GET and INCR over a Map, with time passed in by the test; `down` makes every command fail. */
function fakeRedis(): TickStore & { now: number; down: boolean; failIncr: boolean; data: Map<string, { value: string; expires: number }> } {
  const data = new Map<string, { value: string; expires: number }>();
  const live = (key: string) => {
    const e = data.get(key);
    if (e && e.expires <= store.now) data.delete(key);
    return data.get(key);
  };
  const check = () => {
    if (store.down) throw new Error('connect ECONNREFUSED 10.0.0.5:6379');
  };
  const store = {
    now: 0,
    down: false,
    failIncr: false,
    data,
    async set(key: string, value: string, _px: 'PX', ttl: number, _nx: 'NX') {
      check();
      if (live(key)) return null;
      data.set(key, { value, expires: store.now + ttl });
      return 'OK' as const;
    },
    async get(key: string) {
      check();
      return live(key)?.value ?? null;
    },
    async incr(key: string) {
      check();
      if (store.failIncr) throw new Error('Connection is closed.');
      const n = Number(live(key)?.value ?? 0) + 1;
      data.set(key, { value: String(n), expires: Infinity });
      return n;
    },
  };
  return store;
}

test('claimTick: the first host wins and gets a fence; the others learn who; fences grow with each tick won', async () => {
  const redis = fakeRedis();
  const tick = Date.UTC(2026, 0, 1, 3);
  const results = await Promise.all(['web-1', 'web-2', 'web-3'].map((h) => claimTick(redis, h, 'report', tick, 30_000)));
  assert.deepEqual(results, [{ won: true, fence: 1 }, { won: false, by: 'web-1' }, { won: false, by: 'web-1' }]);
  assert.equal(redis.data.get(tickKey('report', tick))?.value, 'web-1');
  assert.equal(tickKey('report', tick), `herd:fleet:job:report:${tick}`);
  assert.equal(fenceKey('report'), 'herd:fleet:jobfence:report');
  assert.deepEqual(await claimTick(redis, 'web-2', 'report', tick + 2000, 30_000), { won: true, fence: 2 });
  // Another job has its own keys and fences.
  assert.deepEqual(await claimTick(redis, 'web-3', 'backup', tick, 30_000), { won: true, fence: 1 });
});

test('claimTick: a repeat of the same tick (a restarted host catching up) loses while the key lives; the key expires after its TTL', async () => {
  const redis = fakeRedis();
  assert.deepEqual(await claimTick(redis, 'web-1', 'job', 1000, 10_000), { won: true, fence: 1 });
  redis.now = 9_999;
  assert.deepEqual(await claimTick(redis, 'web-1', 'job', 1000, 10_000), { won: false, by: 'web-1' });
  redis.now = 10_001;
  assert.deepEqual(await claimTick(redis, 'web-2', 'job', 1000, 10_000), { won: true, fence: 2 });
});

test('claimTick: Redis down, or gone between the claim and the fence, is an error: the tick is not run', async () => {
  const redis = fakeRedis();
  redis.down = true;
  assert.deepEqual(await claimTick(redis, 'web-1', 'job', 1000, 10_000), { won: false, error: 'connect ECONNREFUSED 10.0.0.5:6379' });
  redis.down = false;
  redis.failIncr = true;
  assert.deepEqual(await claimTick(redis, 'web-1', 'job', 2000, 10_000), { won: false, error: 'Connection is closed.' });
  redis.failIncr = false;
  // The claimed key stays: no other host runs that tick either.
  assert.deepEqual(await claimTick(redis, 'web-2', 'job', 2000, 10_000), { won: false, by: 'web-1' });
});
