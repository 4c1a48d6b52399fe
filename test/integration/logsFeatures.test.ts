import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { CLI, eventually, FIXTURES, freePort, get, herdHome, NODE } from '../helpers';

function fileText(home: string, name: string): string {
  const file = path.join(home, 'logs', name);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

async function startServer(t: Parameters<typeof herdHome>[0], app: Record<string, unknown> = {}) {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const file = path.join(home, 'herd.config.json');
  writeFileSync(file, JSON.stringify({ apps: [{ name: 'app', script: path.join(FIXTURES, 'log-server.js'), instances: 2, env: { PORT: String(port) }, ...app }] }));
  const r = await herd(['start', file]);
  assert.equal(r.code, 0, r.stderr);
  return { home, herd, port };
}

test('access log: one METHOD URL STATUS DURATIONms line per request, apart from stdout', async (t) => {
  const { home, herd, port } = await startServer(t, { accessLog: true });
  await get(port, '/say?msg=hi');
  await get(port, '/missing');
  const text = await eventually(() => {
    const a = fileText(home, 'app-access.log');
    return a.includes('GET /missing') ? a : undefined;
  }, 10_000, 'access lines');
  assert.match(text, /\[\d\] GET \/say\?msg=hi 200 \d+(\.\d+)?ms\n/);
  assert.match(text, /\[\d\] GET \/missing 200 \d+(\.\d+)?ms\n/);
  assert.doesNotMatch(fileText(home, 'app-out.log'), /GET \//);
  const r = await herd(['logs', 'app', '--json']);
  const streams = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { stream: string }).stream);
  assert.ok(streams.includes('access') && streams.includes('out'));
});

test('no access log unless asked for', async (t) => {
  const { home, port } = await startServer(t);
  await get(port, '/say?msg=plain');
  await eventually(() => (fileText(home, 'app-out.log').includes('plain') ? true : undefined), 10_000, 'out line');
  assert.equal(existsSync(path.join(home, 'logs', 'app-access.log')), false);
});

test('--grep, --since, --err, --out filter; --json gives { time, app, worker, stream, msg }', async (t) => {
  const { home, herd, port } = await startServer(t);
  await get(port, '/say?msg=alpha-match');
  await get(port, '/say?msg=beta');
  await get(port, '/err?msg=gamma-match');
  await eventually(() => (fileText(home, 'app-err.log').includes('gamma-match') && fileText(home, 'app-out.log').includes('beta') ? true : undefined), 10_000, 'lines');
  const msgs = async (args: string[]) => (await herd(['logs', 'app', '--json', ...args])).stdout.trim().split('\n').filter(Boolean)
    .map((l) => JSON.parse(l) as { time: string; app: string; worker: number; stream: string; msg: string });
  const grep = await msgs(['--grep', 'match$']);
  assert.deepEqual(grep.map((l) => l.msg), ['alpha-match', 'gamma-match']);
  assert.deepEqual(Object.keys(grep[0] ?? {}), ['time', 'app', 'worker', 'stream', 'msg']);
  assert.equal(grep[0]?.app, 'app');
  assert.deepEqual((await msgs(['--err'])).map((l) => l.msg), ['gamma-match']);
  assert.deepEqual((await msgs(['--out'])).map((l) => l.msg), ['alpha-match', 'beta']);
  assert.equal((await msgs(['--since', '1h'])).length, 3);
  assert.equal((await msgs(['--since', new Date(Date.now() + 60_000).toISOString()])).length, 0);
  assert.equal((await herd(['logs', 'app', '--grep', '('])).code, 2);
  assert.equal((await herd(['logs', 'nope'])).code, 1);
  // Plain text when stdout is not a terminal: time, app[worker], ! for stderr.
  const text = (await herd(['logs', 'app', '--err'])).stdout;
  assert.match(text, /^\S+Z app\[\d\]! gamma-match\n$/);
});

test('herd logs --follow streams new lines, across rotations, exactly once', async (t) => {
  const { home, port } = await startServer(t, { logs: { maxSize: '4KB', retain: 100 } });
  await get(port, '/say?msg=history-line');
  await eventually(() => (fileText(home, 'app-out.log').includes('history-line') ? true : undefined), 10_000, 'history');
  const child = spawn(NODE, [CLI, 'logs', 'app', '--follow', '--out'], { env: { ...process.env, HERD_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  await eventually(() => (out.includes('history-line') ? true : undefined), 10_000, 'history printed');
  // Subscribed before the history was read: a line now must arrive.
  await eventually(async () => {
    await get(port, '/say?msg=live-probe');
    return out.includes('live-probe') ? true : undefined;
  }, 10_000, 'live line');
  await get(port, '/flood?n=300'); // ~30KB: several rotations at 4KB
  await get(port, '/say?msg=after-flood');
  await eventually(() => (out.includes('after-flood') ? true : undefined), 10_000, 'line after the rotations');
  const flood = out.split('\n').filter((l) => / flood \d+ /.test(l)).map((l) => Number(/ flood (\d+) /.exec(l)?.[1]));
  assert.deepEqual(flood, Array.from({ length: 300 }, (_, i) => i));
  // The follower gets lines as the daemon reads them; the files are written (and rotated) just after.
  await eventually(() => (readdirSync(path.join(home, 'logs')).filter((n) => n.startsWith('app-out.')).length > 3 ? true : undefined), 10_000, 'rotated meanwhile');
});

test('herd flush empties the logs; new lines are written after it', async (t) => {
  const { home, herd, port } = await startServer(t, { logs: { maxSize: '4KB' } });
  await get(port, '/flood?n=200');
  await eventually(() => (readdirSync(path.join(home, 'logs')).length > 2 ? true : undefined), 10_000, 'rotated files');
  const r = await herd(['flush', 'app']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /flushed app/);
  assert.deepEqual(readdirSync(path.join(home, 'logs')), []);
  assert.equal((await herd(['logs', 'app'])).stdout, '');
  await get(port, '/say?msg=after-flush');
  await eventually(() => (fileText(home, 'app-out.log').includes('after-flush') ? true : undefined), 10_000, 'new line');
});

test('a line longer than maxLineLength is cut with a visible marker; the next line is intact', async (t) => {
  const { home, port } = await startServer(t, { logs: { maxLineLength: 1000 } });
  await get(port, '/long?n=5000');
  await get(port, '/say?msg=next-line');
  const text = await eventually(() => {
    const s = fileText(home, 'app-out.log');
    return s.includes('next-line') ? s : undefined;
  }, 10_000, 'lines');
  const long = text.split('\n').find((l) => l.includes('LLL')) ?? '';
  assert.match(long, /\] L{1000} …\[herd: cut 4000 chars\]$/);
  assert.equal(text.split('\n').filter((l) => l.includes('LLL')).length, 1);
});

test('herd run: JSON lines { time, app, worker, stream, msg } on stdout when it is not a terminal', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-run-'));
  const port = await freePort();
  const child = spawn(NODE, [CLI, 'run', path.join(FIXTURES, 'log-server.js'), '--name', 'fg'], {
    env: { ...process.env, HERD_HOME: home, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  await eventually(() => (err.includes('running fg') ? true : undefined), 15_000, 'herd run');
  await get(port, '/say?msg=fg-json');
  await get(port, '/err?msg=fg-err');
  await eventually(() => (out.includes('fg-err') ? true : undefined), 10_000, 'lines on stdout');
  const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const say = lines.find((l) => l.msg === 'fg-json');
  assert.deepEqual(Object.keys(say ?? {}), ['time', 'app', 'worker', 'stream', 'msg']);
  assert.equal(say?.app, 'fg');
  assert.equal(say?.stream, 'out');
  assert.equal(lines.find((l) => l.msg === 'fg-err')?.stream, 'err');
  assert.ok(!Number.isNaN(Date.parse(String(say?.time))));
});

test('lines an old worker writes while it drains during a reload are kept', async (t) => {
  const { home, herd, port } = await startServer(t, { script: path.join(FIXTURES, 'drain-logger.js'), instances: 1, env: { PORT: '0', DRAIN_LINES: '500', HERD_RUNTIME: path.join(__dirname, '..', '..', 'dist', 'runtime', 'index.js') } });
  void port;
  const listed = JSON.parse((await herd(['list', '--json'])).stdout) as { workers: { pid: number }[] }[];
  const oldPid = listed[0]?.workers[0]?.pid;
  const r = await herd(['reload', 'app']);
  assert.equal(r.code, 0, r.stderr);
  const lines = await eventually(() => {
    const l = fileText(home, 'app-out.log').split('\n').filter((x) => x.includes(`draining ${oldPid} `));
    return l.length >= 500 ? l : undefined;
  }, 15_000, 'the old worker\'s drain lines');
  assert.deepEqual(lines.map((l) => Number(l.split(' ').pop())), Array.from({ length: 500 }, (_, i) => i));
});
