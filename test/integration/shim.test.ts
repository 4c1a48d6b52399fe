import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eventually, FIXTURES, freePort, get, herdHome, list, running as alive } from '../helpers';

interface Detail { shim: { pid: number; version: string; memory: number } | null; workers: { pid: number | null; status: string }[] }

function ppid(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[1]);
}

/** Every live process whose environment names this HERD_HOME (the daemon, shims, workers and what they started). */
function processesOf(home: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (env.includes(`HERD_HOME=${home}`) && alive(Number(name))) found.push(Number(name));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

async function describe(herd: (args: string[]) => Promise<{ code: number; stdout: string }>, name: string): Promise<Detail> {
  const r = await herd(['describe', name, '--json']);
  assert.equal(r.code, 0, r.stdout);
  return JSON.parse(r.stdout) as Detail;
}

test("an app's workers are children of its shim (herd-shim <app>), which the daemon started", async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) })).code, 0);
  const d = await describe(herd, 'api');
  assert.ok(d.shim, 'describe shows the shim');
  assert.ok(d.shim.memory > 0);
  assert.match(readFileSync(`/proc/${d.shim.pid}/cmdline`, 'utf8'), /^herd-shim api/);
  const daemonPid = Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
  assert.equal(ppid(d.shim.pid), daemonPid);
  for (const w of d.workers) assert.equal(ppid(w.pid as number), d.shim.pid, `worker ${w.pid}'s parent`);
  assert.equal((await get(port)).status, 200);
  // run/<id>.json names it, privately.
  const records = readdirSync(path.join(home, 'run')).filter((n) => n.endsWith('.json'));
  assert.equal(records.length, 1);
  const record = JSON.parse(readFileSync(path.join(home, 'run', records[0] as string), 'utf8')) as { pid: number; app: string; token: string };
  assert.equal(record.pid, d.shim.pid);
  assert.equal(record.app, 'api');
});

test('the shim ends when its app stops or is deleted; a start brings a new one', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) })).code, 0);
  const first = (await describe(herd, 'api')).shim?.pid as number;
  assert.equal((await herd(['stop', 'api'])).code, 0);
  assert.equal(alive(first), false, 'the shim is gone once stop answers');
  assert.equal((await describe(herd, 'api')).shim, null);
  assert.deepEqual(readdirSync(path.join(home, 'run')), []);
  assert.equal((await herd(['start', 'api'])).code, 0);
  const second = (await describe(herd, 'api')).shim?.pid as number;
  assert.notEqual(second, first);
  assert.equal((await get(port)).status, 200);
  assert.equal((await herd(['delete', 'api'])).code, 0);
  assert.equal(alive(second), false);
  assert.deepEqual(readdirSync(path.join(home, 'run')), []);
});

test('herd kill leaves no process of this HERD_HOME behind', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) })).code, 0);
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'other', '-x'], { PORT: String(await freePort()) })).code, 0);
  assert.ok(processesOf(home).length >= 6, 'daemon, two shims, three workers');
  assert.equal((await herd(['kill'])).code, 0);
  // The daemon answers kill before it exits: its own exit is awaited, the rest was gone before the answer.
  const left = await eventually(() => {
    const pids = processesOf(home);
    return pids.length === 0 ? pids : undefined;
  }, 10_000, 'no process left').catch(() => processesOf(home));
  assert.deepEqual(left, [], `left: ${left.map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')).join('; ')}`);
});

test('a shim killed with SIGKILL: the app comes back with new workers under a new shim', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) })).code, 0);
  const before = await describe(herd, 'api');
  const oldShim = before.shim?.pid as number;
  const oldWorkers = before.workers.map((w) => w.pid as number);
  process.kill(oldShim, 'SIGKILL');
  const after = await eventually(async () => {
    const d = await describe(herd, 'api');
    return d.shim && d.shim.pid !== oldShim && d.workers.every((w) => w.status === 'online' && !oldWorkers.includes(w.pid as number)) ? d : undefined;
  }, 20_000, 'new workers online under a new shim');
  for (const w of after.workers) assert.equal(ppid(w.pid as number), after.shim?.pid);
  assert.equal((await get(port)).status, 200);
  // The orphans drained (the agent) and exited.
  await eventually(() => (oldWorkers.some(alive) ? undefined : true), 15_000, 'the orphaned workers to exit');
  const apps = await list(herd);
  assert.equal(apps[0]?.status, 'online');
});
