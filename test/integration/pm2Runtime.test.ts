import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import type { HerdClient as Client } from '../../src/client/client';
import { loadTarget } from '../../src/config/load';
import { DEFAULTS, type AppSpec } from '../../src/config/types';
import type { AppDetail } from '../../src/protocol/control';
import { eventually, FIXTURES, freePort, get, herdHome, load, NODE, ROOT } from '../helpers';

// The built client, as `herd start` uses it: the daemon it starts is
// dist/daemon/main.js (the src client under tsx would start a .ts file with plain node).
const { HerdClient } = require(path.join(ROOT, 'dist', 'client', 'client.js')) as typeof import('../../src/client/client');

/**
 * The config loader fills these fields from PM2 keys; these tests build the
 * specs themselves so that they drive the daemon's side alone: a complete
 * spec from a plain script, with the fields under test spread in.
 */
async function specFor(script: string, opts: { name: string; instances?: number; cwd?: string; env?: Record<string, string> }, extra: Partial<AppSpec>): Promise<AppSpec> {
  const env = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined));
  const { specs } = await loadTarget(script, {
    cwd: opts.cwd ?? path.dirname(script),
    env: { ...env, ...opts.env },
    envName: null,
    overrides: { name: opts.name, instances: String(opts.instances ?? 1) },
    interpreter: NODE,
    cpus: 2,
  });
  const spec = specs[0];
  assert.ok(spec);
  return { ...spec, ...extra };
}

/** A daemon in a private HERD_HOME; `logDir` puts its app logs there (HERD_LOG_DIR, as a user would). */
async function daemon(t: TestContext, logDir?: string) {
  const { home, herd: herdIn } = herdHome(t);
  const logEnv: Record<string, string> = logDir ? { HERD_LOG_DIR: logDir } : {};
  const herd = (args: string[]) => herdIn(args, logEnv);
  const saved = process.env.HERD_LOG_DIR;
  if (logDir) process.env.HERD_LOG_DIR = logDir;
  const client: Client = await HerdClient.connect({ home, autoStart: true }).finally(() => {
    if (saved === undefined) delete process.env.HERD_LOG_DIR;
    else process.env.HERD_LOG_DIR = saved;
  });
  t.after(() => client.close());
  const start = (spec: AppSpec) => client.request({ type: 'start', apps: [spec], settings: null });
  const describe = async (name: string): Promise<AppDetail> => client.request({ type: 'describe', name });
  const pids = async (name: string) => (await describe(name)).workers.map((w) => w.pid).filter((p): p is number => p !== null).sort();
  const events = async (name: string, re: RegExp) => (await describe(name)).events.map((e) => e.message).filter((m) => re.test(m));
  return { home, herd, client, start, describe, pids, events };
}

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- instance_var -----------------------------------------------------------

test('instanceVar: each worker gets its id in that variable, and not in NODE_APP_INSTANCE (as PM2 does)', async (t) => {
  const d = await daemon(t);
  const port = await freePort();
  const script = path.join(FIXTURES, 'print-env.js');
  await d.start(await specFor(script, { name: 'iv', instances: 2, env: { PORT: String(port), NODE_APP_INSTANCE: 'stale-from-the-shell' } }, { instanceVar: 'INSTANCE_ID' }));
  const seen = new Map<number, Record<string, string | null>>();
  await eventually(async () => {
    const body = JSON.parse((await get(port, '/?vars=INSTANCE_ID,NODE_APP_INSTANCE,HERD_WORKER_ID')).body) as { pid: number; vars: Record<string, string | null> };
    seen.set(body.pid, body.vars);
    return seen.size === 2 ? true : undefined;
  }, 15_000, 'both workers answering');
  const vars = [...seen.values()].sort((a, b) => String(a.INSTANCE_ID).localeCompare(String(b.INSTANCE_ID)));
  assert.deepEqual(vars, [
    { INSTANCE_ID: '0', NODE_APP_INSTANCE: null, HERD_WORKER_ID: '0' },
    { INSTANCE_ID: '1', NODE_APP_INSTANCE: null, HERD_WORKER_ID: '1' },
  ]);
});

test('instanceVar by default is NODE_APP_INSTANCE', async (t) => {
  const d = await daemon(t);
  const port = await freePort();
  await d.start(await specFor(path.join(FIXTURES, 'print-env.js'), { name: 'nai', env: { PORT: String(port) } }, {}));
  const body = JSON.parse((await get(port, '/?vars=NODE_APP_INSTANCE,INSTANCE_ID')).body) as { vars: Record<string, string | null> };
  assert.deepEqual(body.vars, { NODE_APP_INSTANCE: '0', INSTANCE_ID: null });
});

// ---- cron_restart -----------------------------------------------------------

test('cronRestart: rolling reloads on the schedule under load with no failed request; none after stop; re-armed by a reload', async (t) => {
  const d = await daemon(t);
  const port = await freePort();
  const hello = path.join(FIXTURES, 'hello.js');
  const every2s = '*/2 * * * * *';
  await d.start(await specFor(hello, { name: 'cron', instances: 2, env: { PORT: String(port) } }, { cronRestart: every2s }));
  // The marker for "nothing fired after stop": an app on the same schedule that keeps running.
  const tickerPort = await freePort();
  await d.start(await specFor(hello, { name: 'ticker', env: { PORT: String(tickerPort) } }, { cronRestart: every2s, execMode: 'fork' }));

  const first = await d.pids('cron');
  const detail = await d.describe('cron');
  assert.equal(detail.cron?.schedule, every2s);
  assert.ok(detail.cron?.next !== null && (detail.cron?.next ?? 0) > Date.now() - 1000 && (detail.cron?.next ?? 0) <= Date.now() + 2500, `next run ${detail.cron?.next}`);
  const traffic = load(port, 10);
  const reloaded = await eventually(async () => ((await d.events('cron', /^reloaded 2 workers$/)).length >= 2 ? d.pids('cron') : undefined), 30_000, 'two cron reloads');
  const stats = await traffic.stop();
  assert.ok(stats.ok > 50, `served ${stats.ok}`);
  assert.deepEqual({ failed: stats.failed, non2xx: stats.non2xx, errors: stats.errors }, { failed: 0, non2xx: 0, errors: [] });
  for (const pid of reloaded) assert.ok(!first.includes(pid), `pid ${pid} is new`);
  assert.ok((await d.events('cron', /^cron reload at \d{4}-\d\d-\d\dT/)).length >= 2);
  assert.ok((await d.describe('cron')).restarts >= 4);

  assert.equal((await d.herd(['stop', 'cron'])).code, 0);
  const stopped = await d.describe('cron');
  assert.equal(stopped.cron?.next, null, 'no next run while stopped');
  const stoppedAt = Date.now();
  const since = async (name: string) => (await d.describe(name)).events.filter((e) => e.time > stoppedAt && /^cron reload/.test(e.message));
  await eventually(async () => ((await since('ticker')).length >= 2 ? true : undefined), 20_000, 'two scheduled runs of the marker app');
  assert.deepEqual(await since('cron'), [], 'nothing fired for the stopped app');
  assert.match((await d.herd(['describe', 'cron'])).stdout, /cron reload +\*\/2 \* \* \* \* \* \(next -, stopped\)/);

  // Started again and reloaded with another schedule: the new one is armed.
  const cronSpec = await specFor(hello, { name: 'cron', instances: 2, env: { PORT: String(port) } }, { cronRestart: every2s });
  assert.deepEqual(await d.start(cronSpec), { started: ['cron'], skipped: [], prometheus: null, dashboard: null });
  assert.ok(((await d.describe('cron')).cron?.next ?? 0) > Date.now() - 1000, 'armed again');
  const yearly = await specFor(hello, { name: 'cron', instances: 2, env: { PORT: String(port) } }, { cronRestart: '0 0 1 1 *' });
  await d.client.request({ type: 'reload', target: 'cron', specs: [yearly] });
  const rearmed = await d.describe('cron');
  assert.equal(rearmed.cron?.schedule, '0 0 1 1 *');
  const next = new Date(rearmed.cron?.next ?? 0);
  assert.deepEqual([next.getMonth(), next.getDate(), next.getHours(), next.getMinutes()], [0, 1, 0, 0]);
  assert.match((await d.herd(['describe', 'cron'])).stdout, /cron reload +0 0 1 1 \* \(next \d{4}-/);
});

test('cronRestart: a bad schedule fails the start with the field named, and changes nothing', async (t) => {
  const d = await daemon(t);
  const port = await freePort();
  const spec = await specFor(path.join(FIXTURES, 'hello.js'), { name: 'badcron', env: { PORT: String(port) } }, { cronRestart: 'every tuesday' });
  await assert.rejects(d.start(spec), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'HERD_ERR_CRON_INVALID');
    assert.match(err.message, /cron_restart "every tuesday"/);
    return true;
  });
  assert.deepEqual(await d.client.request({ type: 'list' }), []);
});

// ---- watch --------------------------------------------------------------------

function watchedApp(t: TestContext): string {
  const dir = tempDir(t, 'herd-watch-');
  copyFileSync(path.join(FIXTURES, 'ops-watch-app.js'), path.join(dir, 'server.js'));
  for (const sub of ['src', 'node_modules/dep', '.git', 'logs']) mkdirSync(path.join(dir, sub), { recursive: true });
  writeFileSync(path.join(dir, 'src', 'a.js'), 'module.exports = 1;\n');
  writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;\n');
  writeFileSync(path.join(dir, '.git', 'HEAD'), 'ref: refs/heads/main\n');
  return dir;
}

async function startWatched(d: Awaited<ReturnType<typeof daemon>>, dir: string, env: Record<string, string> = {}, ignore: string[] = [], extra: Partial<AppSpec> = {}) {
  const port = await freePort();
  await d.start(await specFor(path.join(dir, 'server.js'), { name: 'w', instances: 2, cwd: dir, env: { PORT: String(port), ...env } }, {
    watch: { paths: [dir], ignore, delay: 300 },
    ...extra,
  }));
  // Watching starts once the tree has been walked; changes before that are not seen.
  await eventually(async () => ((await d.describe('w')).watch?.watching === true ? true : undefined), 10_000, 'watching');
  return port;
}

const changeEvents = (d: Awaited<ReturnType<typeof daemon>>) => d.events('w', /^file changed/);

test('watch: several quick writes to a watched file give one reload (new pids)', async (t) => {
  const d = await daemon(t);
  const dir = watchedApp(t);
  await startWatched(d, dir);
  const before = await d.pids('w');
  for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, 'src', 'a.js'), `module.exports = ${i};\n`);
  await eventually(async () => ((await d.events('w', /^reloaded 2 workers$/)).length === 1 ? true : undefined), 20_000, 'the reload');
  const after = await d.pids('w');
  for (const pid of after) assert.ok(!before.includes(pid), `pid ${pid} is new`);
  // The marker: one more real change gives exactly one more reload, so nothing else was queued meanwhile.
  writeFileSync(path.join(dir, 'server.js'), `${readFileSync(path.join(dir, 'server.js'), 'utf8')}// edited\n`);
  await eventually(async () => ((await d.events('w', /^reloaded 2 workers$/)).length === 2 ? true : undefined), 20_000, 'the second reload');
  assert.deepEqual(await changeEvents(d), ['file changed: src/a.js; reloading', 'file changed: server.js; reloading']);
});

test('watch: node_modules, .git, ignore patterns and herd\'s own log files never reload', async (t) => {
  const dir = watchedApp(t);
  // herd's log directory and the app's out_file inside the watched tree, as in many dev setups.
  const d = await daemon(t, path.join(dir, 'herd-logs'));
  const outFile = path.join(dir, 'out', 'app.txt');
  const port = await startWatched(d, dir, {}, ['*.log', 'logs/**', path.join(dir, 'tmp')], {
    logFiles: { out: outFile, err: null, combined: null },
    logs: { ...DEFAULTS.logs, maxSize: 2048 },
  });
  const described = await d.describe('w');
  assert.ok(described.watch !== null && described.watch.directories === 3, `watched directories: ${described.watch?.directories} (the app's dir, src and out)`);
  // Log lines land in the watched tree, rotating several times.
  for (let i = 0; i < 40; i++) await get(port, `/request-${i}-${'x'.repeat(60)}`);
  await eventually(() => (existsSync(path.join(dir, 'herd-logs', 'w-err.log')) && readdirSync(path.join(dir, 'out')).length > 2 ? true : undefined), 10_000, 'logs written and rotated');
  writeFileSync(path.join(dir, 'node_modules', 'dep', 'index.js'), 'module.exports = 2;\n');
  mkdirSync(path.join(dir, 'node_modules', 'new-dep'));
  writeFileSync(path.join(dir, 'node_modules', 'new-dep', 'index.js'), '1\n');
  writeFileSync(path.join(dir, '.git', 'HEAD'), 'ref: refs/heads/other\n');
  writeFileSync(path.join(dir, '.env'), 'A=1\n');
  writeFileSync(path.join(dir, 'debug.log'), 'x\n');
  writeFileSync(path.join(dir, 'logs', 'today.txt'), 'x\n');
  mkdirSync(path.join(dir, 'tmp'));
  writeFileSync(path.join(dir, 'tmp', 'cache.js'), 'x\n');
  // The marker: a real change after all of those.
  writeFileSync(path.join(dir, 'src', 'a.js'), 'module.exports = 3;\n');
  await eventually(async () => ((await d.events('w', /^reloaded 2 workers$/)).length === 1 ? true : undefined), 20_000, 'the marker reload');
  assert.deepEqual(await changeEvents(d), ['file changed: src/a.js; reloading']);
});

test('watch: an app writing a file in its directory every 100 ms causes no reload storm', async (t) => {
  const d = await daemon(t);
  const dir = watchedApp(t);
  await startWatched(d, dir, { WRITE_FILE: 'state.txt' });
  // Both workers have written for a while (each tick is a change event).
  await eventually(() => (existsSync(path.join(dir, 'state.txt')) && readFileSync(path.join(dir, 'state.txt'), 'utf8').split('\n').length > 30 ? true : undefined), 15_000, 'the app writing');
  assert.deepEqual(await changeEvents(d), []);
  writeFileSync(path.join(dir, 'src', 'a.js'), 'module.exports = 4;\n');
  await eventually(async () => ((await d.events('w', /^reloaded 2 workers$/)).length === 1 ? true : undefined), 20_000, 'the marker reload');
  // The new workers write the same file: still no storm.
  const lines = readFileSync(path.join(dir, 'state.txt'), 'utf8').split('\n').length;
  await eventually(() => (readFileSync(path.join(dir, 'state.txt'), 'utf8').split('\n').length > lines + 20 ? true : undefined), 15_000, 'the new workers writing');
  writeFileSync(path.join(dir, 'src', 'a.js'), 'module.exports = 5;\n');
  await eventually(async () => ((await d.events('w', /^reloaded 2 workers$/)).length === 2 ? true : undefined), 20_000, 'the second marker reload');
  assert.deepEqual(await changeEvents(d), ['file changed: src/a.js; reloading', 'file changed: src/a.js; reloading']);
});

test('watch: a reload that fails keeps watching; the next change tries again', async (t) => {
  const d = await daemon(t);
  const dir = watchedApp(t);
  await startWatched(d, dir);
  const server = readFileSync(path.join(dir, 'server.js'), 'utf8');
  writeFileSync(path.join(dir, 'server.js'), 'throw new Error("half-saved file");\n');
  await eventually(async () => ((await d.events('w', /^watch reload failed/)).length === 1 ? true : undefined), 20_000, 'the failed reload');
  assert.equal((await d.describe('w')).status, 'online', 'the old workers keep serving');
  writeFileSync(path.join(dir, 'server.js'), server);
  await eventually(async () => ((await d.events('w', /^reloaded 2 workers$/)).length === 1 ? true : undefined), 20_000, 'the reload after the fix');
  assert.equal((await d.herd(['stop', 'w'])).code, 0);
  assert.equal((await d.describe('w')).watch?.watching, false, 'not watching while stopped');
});

// ---- log files ----------------------------------------------------------------

/** Every line of a file and of its rotated siblings (`out.<stamp>.log`), oldest first. */
/**
 * Every line of a log file and its rotated copies, oldest first. A rotation
 * between listing the directory and reading the current file would hide the
 * lines it moved away: the read counts only when the listing is the same
 * after it.
 */
function linesOf(file: string): string[] {
  const dir = path.dirname(file);
  const ext = path.extname(file);
  const base = path.basename(file, ext);
  if (!existsSync(dir)) return [];
  const rotatedNow = () => readdirSync(dir).filter((n) => n.startsWith(`${base}.`) && n !== path.basename(file) && /^\.\d{8}T\d{9}Z$/.test(n.slice(base.length, n.length - ext.length))).sort();
  for (;;) {
    const rotated = rotatedNow();
    const lines = [...rotated.map((n) => path.join(dir, n)), file].filter((f) => existsSync(f))
      .flatMap((f) => readFileSync(f, 'utf8').split('\n').filter((l) => l.length > 0));
    if (rotatedNow().join('\n') === rotated.join('\n')) return lines;
  }
}

const numbers = (lines: string[], tag: string, stream: string) => lines.map((l) => new RegExp(`^\\S+Z \\[\\d+\\] ${tag} ${stream} (\\d+) p+$`).exec(l)?.[1]).filter((n) => n !== undefined).map(Number);

test('logFiles: out_file, error_file and log_file get every line, across rotations; the directory is created', async (t) => {
  const d = await daemon(t);
  const port = await freePort();
  const dir = path.join(tempDir(t, 'herd-pm2logs-'), 'var', 'log', 'app');
  const files = { out: path.join(dir, 'out.log'), err: path.join(dir, 'err.log'), combined: path.join(dir, 'all.log') };
  const spec = await specFor(path.join(FIXTURES, 'ops-lines.js'), { name: 'lf', instances: 2, env: { PORT: String(port) } }, { logFiles: files });
  await d.start({ ...spec, logs: { ...spec.logs, maxSize: 4096, retain: 100 } });
  await get(port, '/lines?n=300&stream=out&tag=a');
  await get(port, '/lines?n=200&stream=err&tag=a');
  await get(port, '/lines?n=1&stream=out&tag=end');
  await get(port, '/lines?n=1&stream=err&tag=end');
  const all = await eventually(() => {
    const lines = linesOf(files.combined);
    return numbers(lines, 'end', 'out').length === 1 && numbers(lines, 'end', 'err').length === 1 ? lines : undefined;
  }, 15_000, 'the last lines in log_file');
  await eventually(() => (numbers(linesOf(files.out), 'end', 'out').length === 1 && numbers(linesOf(files.err), 'end', 'err').length === 1 ? true : undefined), 15_000, 'the last lines');
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);
  assert.deepEqual(numbers(linesOf(files.out), 'a', 'out'), range(300));
  assert.deepEqual(numbers(linesOf(files.err), 'a', 'err'), range(200));
  assert.deepEqual(numbers(linesOf(files.out), 'a', 'err'), []);
  assert.deepEqual(numbers(all, 'a', 'out'), range(300));
  assert.deepEqual(numbers(all, 'a', 'err'), range(200));
  assert.ok(readdirSync(dir).filter((n) => /^out\.\d{8}T\d{9}Z\.log$/.test(n)).length >= 3, `out_file rotated: ${readdirSync(dir).join(' ')}`);
  assert.ok(readdirSync(dir).filter((n) => /^all\.\d{8}T\d{9}Z\.log$/.test(n)).length >= 5, 'log_file rotated');
  // herd's own files have the same lines, and `herd logs` reads them.
  assert.deepEqual(numbers(linesOf(path.join(d.home, 'logs', 'lf-out.log')), 'a', 'out'), range(300));
  const logs = await d.herd(['logs', 'lf', '--lines', '1', '--err']);
  assert.match(logs.stdout, /end err 0/);
  assert.deepEqual((await d.describe('lf')).logFiles, files);
  assert.match((await d.herd(['describe', 'lf'])).stdout, new RegExp(`log files +out ${files.out}, err ${files.err}, combined ${files.combined}`));
});

test('logFiles: /dev/null keeps that stream off the disk, and the worker is still read', async (t) => {
  const d = await daemon(t);
  const port = await freePort();
  const spec = await specFor(path.join(FIXTURES, 'ops-lines.js'), { name: 'quiet', env: { PORT: String(port) } }, { logFiles: { out: '/dev/null', err: null, combined: null } });
  await d.start(spec);
  // Far more than a pipe holds: a worker whose stdout were not read would block here.
  for (let i = 0; i < 5; i++) assert.equal((await get(port, '/lines?n=2000&stream=out')).status, 200);
  await get(port, '/lines?n=1&stream=err&tag=marker');
  const err = path.join(d.home, 'logs', 'quiet-err.log');
  await eventually(() => (existsSync(err) && readFileSync(err, 'utf8').includes('marker err 0') ? true : undefined), 10_000, 'the stderr line');
  assert.equal(existsSync(path.join(d.home, 'logs', 'quiet-out.log')), false);
});

test('logFiles: an existing file is appended to; a symlink at the path is refused with the field named', async (t) => {
  const d = await daemon(t);
  const port = await freePort();
  const dir = tempDir(t, 'herd-pm2logs-');
  const existing = path.join(dir, 'out.log');
  writeFileSync(existing, 'an old line from pm2\n');
  const spec = await specFor(path.join(FIXTURES, 'ops-lines.js'), { name: 'keep', env: { PORT: String(port) } }, { logFiles: { out: existing, err: null, combined: null } });
  await d.start(spec);
  await get(port, '/lines?n=1&stream=out&tag=new');
  await eventually(() => (readFileSync(existing, 'utf8').includes('new out 0') ? true : undefined), 10_000, 'the new line');
  assert.match(readFileSync(existing, 'utf8'), /^an old line from pm2\n\S+Z \[0\] new out 0 p+\n$/);

  const target = path.join(dir, 'elsewhere.txt');
  writeFileSync(target, 'not a log\n');
  const link = path.join(dir, 'linked.log');
  symlinkSync(target, link);
  const other = await specFor(path.join(FIXTURES, 'ops-lines.js'), { name: 'linked', env: { PORT: String(await freePort()) } }, { logFiles: { out: null, err: link, combined: null } });
  await assert.rejects(d.start(other), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'HERD_ERR_LOG_FILE');
    assert.match(err.message, new RegExp(`error_file ${link.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: is a symbolic link`));
    return true;
  });
  assert.equal(readFileSync(target, 'utf8'), 'not a log\n');
  assert.deepEqual((await d.client.request({ type: 'list' })).map((a) => a.name), ['keep']);
});
