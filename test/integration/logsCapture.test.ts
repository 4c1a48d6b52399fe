import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { eventually, FIXTURES, freePort, get, herdHome, list } from '../helpers';

/** Every message of an app's stream across the current and rotated files, oldest file first. */
function messages(dir: string, app: string, stream: string): string[] {
  const prefix = `${app}-${stream}.`;
  const files = readdirSync(dir).filter((n) => n.startsWith(prefix) && /\.log(\.gz)?$/.test(n));
  // Rotated names carry a sortable stamp; the current file is newest.
  files.sort((a, b) => (a === `${app}-${stream}.log` ? 1 : b === `${app}-${stream}.log` ? -1 : a.localeCompare(b)));
  const out: string[] = [];
  for (const name of files) {
    const raw = readFileSync(path.join(dir, name));
    const text = (name.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    for (const line of text.split('\n')) {
      const m = /^\S+ \[\d+\] (.*)$/.exec(line);
      if (m) out.push(m[1] as string);
    }
  }
  return out;
}

function config(home: string, app: Record<string, unknown>): string {
  const file = path.join(home, 'herd.config.json');
  writeFileSync(file, JSON.stringify({ apps: [app] }));
  return file;
}

test('2 workers flooding 100,000 lines each with maxSize 1MB: every line exactly once across rotated files', async (t) => {
  const { home, herd } = herdHome(t);
  const file = config(home, {
    name: 'flood', script: path.join(FIXTURES, 'flood.js'), instances: 2, execMode: 'fork',
    logs: { maxSize: '1MB' }, env: { FLOOD_LINES: '100000' },
  });
  const r = await herd(['start', file]);
  assert.equal(r.code, 0, r.stderr);
  const logs = path.join(home, 'logs');
  await eventually(() => (messages(logs, 'flood', 'err').filter((m) => m.startsWith('flood done')).length === 2 ? true : undefined), 120_000, 'both workers to finish writing');
  const lines = await eventually(() => {
    const all = messages(logs, 'flood', 'out');
    return all.length >= 200_000 ? all : undefined;
  }, 60_000, 'all 200,000 lines on disk');
  assert.equal(lines.length, 200_000);
  const seen = new Set(lines);
  assert.equal(seen.size, 200_000, 'no line twice');
  for (const w of [0, 1]) for (let i = 0; i < 100_000; i++) assert.ok(seen.has(`w${w} ${i}`), `w${w} ${i} missing`);
  // Rotated by size, renamed with a stamp, never over maxSize.
  const outFiles = readdirSync(logs).filter((n) => n.startsWith('flood-out.'));
  assert.ok(outFiles.length >= 7, `rotated files: ${outFiles.join(', ')}`);
  for (const n of readdirSync(logs)) assert.ok(statSync(path.join(logs, n)).size <= 1024 * 1024, `${n} over 1MB`);
  const detail = JSON.parse((await herd(['describe', 'flood', '--json'])).stdout) as { logLinesDropped: number };
  assert.equal(detail.logLinesDropped, 0);
});

test('a worker that writes 1000 lines and exits at once: all 1000 lines are kept', async (t) => {
  const { home, herd } = herdHome(t);
  const file = config(home, { name: 'crash', script: path.join(FIXTURES, 'crash-lines.js'), execMode: 'fork', autorestart: false });
  assert.equal((await herd(['start', file])).code, 0);
  const logs = path.join(home, 'logs');
  const lines = await eventually(() => {
    const all = messages(logs, 'crash', 'out');
    return all.length >= 1000 ? all : undefined;
  }, 20_000, '1000 lines');
  assert.deepEqual(lines, Array.from({ length: 1000 }, (_, i) => `crash-line ${i}`));
  await eventually(async () => ((await list(herd))[0]?.workers[0]?.status === 'stopped' ? true : undefined), 10_000, 'worker stopped');
});

test('herd logs <name> --lines 5 prints exactly the last 5 lines', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'log-server.js'), '--name', 'five', '-i', '2'], { PORT: String(port) })).code, 0);
  for (let i = 0; i < 20; i++) assert.equal((await get(port, `/say?msg=line-${i}`)).status, 200);
  await eventually(() => (messages(path.join(home, 'logs'), 'five', 'out').includes('line-19') ? true : undefined), 10_000, 'lines on disk');
  const r = await herd(['logs', 'five', '--lines', '5']);
  assert.equal(r.code, 0, r.stderr);
  const printed = r.stdout.split('\n').filter((l) => l !== '');
  assert.equal(printed.length, 5, r.stdout);
  assert.equal(r.stdout.endsWith('\n'), true);
  assert.deepEqual(printed.map((l) => l.split(' ').pop()), ['line-15', 'line-16', 'line-17', 'line-18', 'line-19']);
  // Without a daemon the files are read the same way.
  await herd(['kill']);
  const offline = await herd(['logs', 'five', '--lines', '5']);
  assert.equal(offline.stdout.split('\n').filter((l) => l !== '').length, 5);
});

test('a full log disk: requests keep succeeding, herd answers, lost lines are counted, writing resumes', async (t) => {
  if (process.getuid?.() !== 0) {
    t.skip('needs root to mount a tmpfs (CI runs as root)');
    return;
  }
  const logDir = mkdtempSync(path.join(tmpdir(), 'herd-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', logDir]);
  const { home, herd } = herdHome(t);
  t.after(() => {
    // Lazy: the daemon may still hold files open while it is being killed.
    try { execFileSync('umount', ['-l', logDir]); } catch { /* already gone */ }
    rmSync(logDir, { recursive: true, force: true });
  });
  const env = { HERD_LOG_DIR: logDir };
  const port = await freePort();
  const file = config(home, { name: 'full', script: path.join(FIXTURES, 'log-server.js'), env: { PORT: String(port) }, logs: { maxSize: '64KB', retain: 1 } });
  assert.equal((await herd(['start', file], env)).code, 0);
  await get(port, '/say?msg=before-full');
  await eventually(() => (messages(logDir, 'full', 'out').includes('before-full') ? true : undefined), 10_000, 'first line');

  // Fill the disk.
  const filler = path.join(logDir, 'filler');
  const fd = openSync(filler, 'w');
  const block = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    closeSync(fd);
  }

  // More than the daemon buffers for a failing disk (8MB): the rest is dropped and counted.
  assert.equal((await get(port, '/flood?n=120000')).status, 200);
  for (let i = 0; i < 20; i++) assert.equal((await get(port, `/say?msg=during-${i}`)).status, 200);
  const listed = await herd(['list', '--json'], env);
  assert.equal(listed.code, 0);
  const dropped = await eventually(async () => {
    const d = JSON.parse((await herd(['describe', 'full', '--json'], env)).stdout) as { logLinesDropped: number };
    return d.logLinesDropped > 0 ? d.logLinesDropped : undefined;
  }, 20_000, 'dropped lines counted');
  assert.ok(dropped > 0);
  assert.match((await herd(['describe', 'full'], env)).stdout, /log lines dropped\s+\d+/);

  // Space comes back: writing resumes by itself.
  rmSync(filler);
  // The daemon first writes what it kept queued (8MB through 64KB rotations);
  // a line sent while that queue is still full is dropped too, so keep sending.
  let n = 0;
  await eventually(async () => {
    assert.equal((await get(port, `/say?msg=after-space-${n++}`)).status, 200);
    return messages(logDir, 'full', 'out').some((m) => m.startsWith('after-space-')) ? true : undefined;
  }, 60_000, 'a line written after space came back').catch((err: unknown) => {
    throw new Error(`${String(err)}; files: ${readdirSync(logDir).map((f) => `${f} ${statSync(path.join(logDir, f)).size}`).join(', ')}`);
  });
});
