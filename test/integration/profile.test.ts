import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { topFunctions, type CpuProfile } from '../../src/profile/cpuProfile';
import { eventually, FIXTURES, freePort, herdHome } from '../helpers';

function config(home: string, script: string, port: number, extra = ''): string {
  const file = path.join(home, 'herd.config.js');
  writeFileSync(file, `module.exports = { apps: [{ name: 'app', script: ${JSON.stringify(path.join(FIXTURES, script))}, env: { PORT: ${port} }, ${extra} }] };\n`);
  return file;
}

test('herd profile: a CPU-bound worker profiled through its inspector; the .cpuprofile and a self-contained flame graph', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', config(home, 'busy-loop.js', port)])).code, 0);

  const bad = await herd(['profile', 'app', '--duration', 'forever']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--duration/);
  const unknown = await herd(['profile', 'nope', '--duration', '1s']);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /no app named "nope"/);

  const r = await herd(['profile', 'app', '--duration', '1s', '--out', home, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { workers: { worker: number; cpuprofile: string; html: string; top: { functionName: string }[] }[] };
  const [w] = out.workers;
  assert.ok(w);
  assert.equal(path.dirname(w.cpuprofile), home);
  assert.match(path.basename(w.cpuprofile), /^app-w0-\d{8}-\d{6}\.cpuprofile$/);
  const profile = JSON.parse(readFileSync(w.cpuprofile, 'utf8')) as CpuProfile;
  assert.ok(profile.nodes.length > 0 && (profile.samples?.length ?? 0) > 100);
  // The busy loop is the largest self time. V8 sometimes puts a hot loop's
  // samples on its caller's frame (Node's processImmediate) instead of
  // burnCpu's, so the test accepts either, but never idle time.
  const [first] = topFunctions(profile);
  assert.ok(first && ['burnCpu', 'processImmediate'].includes(first.functionName) && first.selfPct > 50, JSON.stringify(topFunctions(profile, 5)));
  assert.equal(w.top[0]?.functionName, first.functionName);

  const html = readFileSync(w.html, 'utf8');
  assert.match(html, /<script type="application\/json" id="herd-profile">/);
  assert.doesNotMatch(html, /<link\b|<script[^>]+src=|<img\b|@import|url\(\s*['"]?https?:/i, 'nothing loaded from elsewhere');
  assert.doesNotMatch(html, /(src|href)\s*=\s*["']?https?:\/\//i);
});

test('profileOnStall: a worker whose loop blocks 500 ms is profiled, and describe lists the capture', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', config(home, 'slow-loop.js', port, "profileOnStall: { delay: '200ms', duration: '1s' }")])).code, 0);
  const capture = await eventually(async () => {
    const r = await herd(['describe', 'app', '--json']);
    const d = JSON.parse(r.stdout) as { stallProfiles?: { worker: number; delayMs: number; path: string }[] };
    return d.stallProfiles?.[0];
  }, 15_000, 'a profile in describe');
  assert.equal(capture.worker, 0);
  assert.ok(capture.delayMs >= 200, String(capture.delayMs));
  assert.ok(capture.path.startsWith(path.join(home, 'profiles', 'app')), capture.path);
  const profile = JSON.parse(readFileSync(capture.path, 'utf8')) as CpuProfile;
  // The 500 ms blocks are in it (V8 may have inlined blockLoop into Node's timer code, so it is not looked for by name).
  const busy = topFunctions(profile, 20).filter((f) => !f.functionName.startsWith('('));
  assert.ok(busy.some((f) => f.selfPct > 10), JSON.stringify(topFunctions(profile, 5)));
  const text = await herd(['describe', 'app']);
  assert.match(text.stdout, /profiles taken on a slow event loop/i);
});
