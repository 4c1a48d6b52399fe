import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cronTicks, ticksBetween } from '../../src/daemon/jobs/jobSchedule';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const ticks = (schedule: string, timezone: string, from: string, n: number) => {
  const s = cronTicks({ schedule, timezone });
  const out: string[] = [];
  let t = Date.parse(from);
  for (let i = 0; i < n; i++) {
    const next = s.next(t);
    if (next === null) break;
    out.push(iso(next) as string);
    t = next;
  }
  return out;
};

// Europe/Berlin 2026: clocks go from 02:00 CET to 03:00 CEST on 29 March (01:00Z), and from 03:00 CEST back to 02:00 CET on 25 October (01:00Z).
test('DST gap (croner): a daily 02:30 that does not exist on 29 March 2026 runs once, at 03:00 CEST, the first instant after the gap', () => {
  assert.deepEqual(ticks('30 2 * * *', 'Europe/Berlin', '2026-03-27T12:00:00Z', 3), [
    '2026-03-28T01:30:00.000Z', // 02:30 CET
    '2026-03-29T01:00:00.000Z', // 03:00 CEST: the gap's tick, once
    '2026-03-30T00:30:00.000Z', // 02:30 CEST
  ]);
  // Every 30 minutes: the half hours inside the gap are not run on their own; 03:00 comes as usual.
  assert.deepEqual(ticks('*/30 * * * *', 'Europe/Berlin', '2026-03-29T00:10:00Z', 3), ['2026-03-29T00:30:00.000Z', '2026-03-29T01:00:00.000Z', '2026-03-29T01:30:00.000Z']);
});

test('DST overlap (croner): a daily 02:30 in the repeated hour of 25 October 2026 runs once, at the first 02:30 (CEST); every-30-minutes runs by real time', () => {
  assert.deepEqual(ticks('30 2 * * *', 'Europe/Berlin', '2026-10-23T12:00:00Z', 3), [
    '2026-10-24T00:30:00.000Z',
    '2026-10-25T00:30:00.000Z', // 02:30 CEST; not again at 02:30 CET (01:30Z)
    '2026-10-26T01:30:00.000Z',
  ]);
  assert.deepEqual(ticks('*/30 * * * *', 'Europe/Berlin', '2026-10-25T00:10:00Z', 4), [
    '2026-10-25T00:30:00.000Z', '2026-10-25T01:00:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T02:00:00.000Z',
  ]);
});

test('a tick is its scheduled instant: the same on every host whatever the time asked from; 6 fields have seconds', () => {
  const s = cronTicks({ schedule: '*/2 * * * * *', timezone: 'UTC' });
  assert.equal(s.next(Date.parse('2026-01-01T00:00:00.000Z')), Date.parse('2026-01-01T00:00:02.000Z'));
  assert.equal(s.next(Date.parse('2026-01-01T00:00:00.999Z')), Date.parse('2026-01-01T00:00:02.000Z'));
  assert.equal(s.next(Date.parse('2026-01-01T00:00:01.500Z')), Date.parse('2026-01-01T00:00:02.000Z'));
  assert.deepEqual(ticksBetween(s, Date.parse('2026-01-01T00:00:00Z'), Date.parse('2026-01-01T00:00:09Z')), { count: 4, last: Date.parse('2026-01-01T00:00:08Z') });
  assert.equal(cronTicks({ schedule: '0 3 * * *', timezone: null }).timezone, Intl.DateTimeFormat().resolvedOptions().timeZone);
});
