import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HerdError } from '../../src/errors';
import { loadTarget } from '../../src/config/load';
import type { AppSpec } from '../../src/config/types';
import { configFiles } from '../configFiles';

const files = configFiles('config-jobs');

async function load(value: unknown): Promise<AppSpec[]> {
  return (await loadTarget(await files.write(value), files.options())).specs;
}

async function problems(value: unknown): Promise<string[]> {
  const err = await loadTarget(await files.write(value), files.options()).then(() => assert.fail('expected the load to fail'), (e: unknown) => e);
  assert.ok(err instanceof HerdError && err.code === 'HERD_ERR_CONFIG_INVALID', String(err));
  return err.details;
}

test('cron makes the app a job: one process in fork mode, the schedule and timezone kept; cron_restart stays a rolling reload', async () => {
  const [job, server] = await load({ apps: [
    { name: 'report', script: 'server.js', cron: ' */5 * * * * ', timezone: 'Europe/Berlin' },
    { name: 'api', script: 'server.js', cron_restart: '0 3 * * *', instances: 2 },
  ] });
  assert.deepEqual(job?.job, { schedule: '*/5 * * * *', timezone: 'Europe/Berlin', fleet: false });
  assert.deepEqual([job?.execMode, job?.instances, job?.cronRestart], ['fork', 1, null]);
  assert.deepEqual([server?.job, server?.cronRestart, server?.instances], [null, '0 3 * * *', 2]);
  const [plain] = await load({ apps: [{ script: 'server.js', cron: '*/10 * * * * *', instances: 1, exec_mode: 'fork' }] });
  assert.deepEqual(plain?.job, { schedule: '*/10 * * * * *', timezone: null, fleet: false });
});

test('a job in a config with a fleet claims its ticks there, read in UTC on every host unless its timezone is set (and said when the host is elsewhere)', async (t) => {
  const fleet = { redis: 'redis://127.0.0.1:6379', host: 'web-1', address: '10.0.0.11', secret: 'a-secret-of-16-chars!' };
  const config = { fleet, apps: [{ name: 'report', script: 'server.js', cron: '0 * * * *' }, { name: 'berlin', script: 'server.js', cron: '0 3 * * *', timezone: 'Europe/Berlin' }] };
  const [job, berlin] = await load(config);
  assert.deepEqual(job?.job, { schedule: '0 * * * *', timezone: 'UTC', fleet: true });
  assert.equal(berlin?.job?.timezone, 'Europe/Berlin');
  const zone = process.env.TZ;
  t.after(() => (zone === undefined ? delete process.env.TZ : (process.env.TZ = zone)));
  process.env.TZ = 'America/New_York';
  const { warnings } = await loadTarget(await files.write(config), files.options());
  const utc = warnings.filter((w) => /UTC/.test(w));
  assert.equal(utc.length, 1, utc.join('\n'));
  assert.match(utc[0] ?? '', /: report: a fleet job without `timezone` runs in UTC on every host \(this host's zone is America\/New_York\); set timezone: 'America\/New_York' to read "0 \* \* \* \*" in it$/);
  process.env.TZ = 'UTC';
  assert.deepEqual((await loadTarget(await files.write(config), files.options())).warnings.filter((w) => /UTC/.test(w)), []);
});

test('a bad schedule, a bad timezone, instances > 1 and cluster mode are problems naming the field', async () => {
  assert.deepEqual(await problems({ apps: [
    { name: 'a', script: 'server.js', cron: '61 * * * *' },
    { name: 'b', script: 'server.js', cron: '* * * * *', timezone: 'Mars/Olympus' },
    { name: 'c', script: 'server.js', cron: '* * * * *', instances: 4 },
    { name: 'd', script: 'server.js', cron: '* * * * *', exec_mode: 'cluster' },
    { name: 'e', script: 'server.js', cron: true },
    { name: 'f', script: 'server.js', cron: '* * * * *', cron_restart: '0 3 * * *' },
  ] }), [
    'apps[0].cron: not a cron expression: Invalid value for minute: 61',
    "apps[1].timezone: must be an IANA time zone name like 'Europe/Berlin' or 'UTC'; got \"Mars/Olympus\"",
    "apps[2].instances: a job (apps[2].cron) runs one process at each tick; got 4 (for PM2's restart on a schedule of a server, use cron_restart instead of cron)",
    "apps[3].exec_mode: a job (apps[3].cron) runs in fork mode, one process at each tick; remove cluster mode (for PM2's restart on a schedule of a server, use cron_restart instead of cron)",
    "apps[4].cron: must be a cron expression like '*/5 * * * *' (5 fields, or 6 with seconds first); got true",
    'apps[5].cron_restart: a job (`cron`) runs to completion at each tick and has no workers to reload; remove cron_restart (or cron, to keep a server reloaded on schedule)',
  ]);
});

test('timezone without cron is warned about and ignored', async () => {
  const { warnings } = await loadTarget(await files.write({ apps: [{ script: 'server.js', timezone: 'UTC' }] }), files.options());
  assert.ok(warnings.some((w) => /apps\[0\]\.timezone: applies to a job \(`cron`\) only; ignored/.test(w)), JSON.stringify(warnings));
});
