import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { FIXTURES, freePort, get, herdHome, list, load, RUNTIME } from '../helpers';

function appDir(t: TestContext, version: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-app-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  copyFileSync(path.join(FIXTURES, 'versioned.js'), path.join(dir, 'server.js'));
  writeFileSync(path.join(dir, 'version.txt'), version);
  return dir;
}

test('rolling reloads under keep-alive load: no failed request, every worker replaced', async (t) => {
  const { herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port), DELAY_MS: '20' })).code, 0);
  const traffic = load(port, 20);
  let pids = (await list(herd))[0]?.workers.map((w) => w.pid) ?? [];
  for (let i = 0; i < 3; i++) {
    const r = await herd(['reload', 'api']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /draining old pid/);
    const now = (await list(herd))[0]?.workers.map((w) => w.pid) ?? [];
    assert.equal(now.length, 2);
    for (const pid of now) assert.ok(!pids.includes(pid), `pid ${pid} was replaced`);
    pids = now;
  }
  const stats = await traffic.stop();
  assert.ok(stats.ok > 100, `served ${stats.ok}`);
  assert.deepEqual({ failed: stats.failed, non2xx: stats.non2xx, errors: stats.errors }, { failed: 0, non2xx: 0, errors: [] });
});

test('a reload into a version that throws at start-up aborts; the old workers keep serving', async (t) => {
  const { herd } = herdHome(t);
  const dir = appDir(t, 'v1');
  const port = await freePort();
  assert.equal((await herd(['start', path.join(dir, 'server.js'), '--name', 'app', '-i', '2'], { PORT: String(port) })).code, 0);
  const before = (await list(herd))[0]?.workers.map((w) => w.pid);
  writeFileSync(path.join(dir, 'version.txt'), 'throw');
  const traffic = load(port, 10);
  const r = await herd(['reload', 'app']);
  const stats = await traffic.stop();
  assert.equal(r.code, 1);
  assert.match(r.stderr, /reload of "app" aborted/);
  assert.match(r.stderr, /broken release: missing configuration/);
  assert.deepEqual((await list(herd))[0]?.workers.map((w) => w.pid), before);
  assert.deepEqual({ failed: stats.failed, non2xx: stats.non2xx }, { failed: 0, non2xx: 0 });
  assert.match((await get(port)).body, /^v1 /);
  // Fixed on disk: the next reload goes through and serves the new code.
  writeFileSync(path.join(dir, 'version.txt'), 'v2');
  const ok = await herd(['reload', 'app']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match((await get(port)).body, /^v2 /);
});

test('a reload whose new worker never becomes ready times out and keeps the old worker', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'herd.config.json');
  const app = { name: 'app', script: path.join(FIXTURES, 'hello.js'), env: { PORT: String(port) }, listenTimeout: '1s' };
  writeFileSync(config, JSON.stringify({ apps: [app] }));
  assert.equal((await herd(['start', config])).code, 0);
  const before = (await list(herd))[0]?.workers[0]?.pid;
  writeFileSync(config, JSON.stringify({ apps: [{ ...app, script: path.join(FIXTURES, 'never-ready.js') }] }));
  const r = await herd(['reload', 'app']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /not ready within 1s/);
  assert.equal((await list(herd))[0]?.workers[0]?.pid, before);
  assert.equal((await get(port)).status, 200);
});

test('reload re-reads the config: env changes apply', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'herd.config.js');
  const write = (greeting: string) => writeFileSync(config,
    `module.exports = { apps: [{ name: 'env', script: ${JSON.stringify(path.join(FIXTURES, 'print-env.js'))}, instances: 2, env: { PORT: ${port}, GREETING: '${greeting}' } }] };\n`);
  write('hello');
  assert.equal((await herd(['start', config], { FROM_CLI: 'yes' })).code, 0);
  let body = JSON.parse((await get(port)).body) as { greeting: string; fromCli: string };
  assert.deepEqual([body.greeting, body.fromCli], ['hello', 'yes']);
  write('bonjour');
  const r = await herd(['reload', 'env']);
  assert.equal(r.code, 0, r.stderr);
  body = JSON.parse((await get(port)).body) as { greeting: string; fromCli: string };
  assert.deepEqual([body.greeting, body.fromCli], ['bonjour', 'yes']);
});

test('wait_ready: a worker is ready on process.send("ready") or the runtime ready()', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const port2 = await freePort();
  const config = path.join(home, 'ecosystem.config.js');
  writeFileSync(config, `module.exports = { apps: [
    { name: 'pm2style', script: ${JSON.stringify(path.join(FIXTURES, 'wait-ready.js'))}, instances: 2, exec_mode: 'cluster', wait_ready: true, listen_timeout: 5000, env: { PORT: ${port} } },
    { name: 'runtime', script: ${JSON.stringify(path.join(FIXTURES, 'runtime-ready.js'))}, waitReady: true, env: { PORT: ${port2}, HERD_RUNTIME: ${JSON.stringify(RUNTIME)} } },
  ] };\n`);
  const r = await herd(['start', config]);
  assert.equal(r.code, 0, r.stderr);
  const apps = await list(herd);
  assert.deepEqual(apps.map((a) => a.status), ['online', 'online']);
  const d = JSON.parse((await herd(['describe', 'pm2style', '--json'])).stdout) as { workers: { reason: string }[] };
  assert.ok(d.workers.every((w) => w.reason === 'ready signal'), JSON.stringify(d.workers));
  const rt = JSON.parse((await herd(['describe', 'runtime', '--json'])).stdout) as { workers: { reason: string }[] };
  assert.equal(rt.workers[0]?.reason, 'ready()');
  const reload = await herd(['reload', 'all']);
  assert.equal(reload.code, 0, reload.stderr);
});

test('an errored app is brought back by a reload after the code is fixed', async (t) => {
  const { herd } = herdHome(t);
  const dir = appDir(t, 'throw');
  const port = await freePort();
  const r = await herd(['start', path.join(dir, 'server.js'), '--name', 'app', '-i', '2'], { PORT: String(port) });
  assert.equal(r.code, 1);
  assert.equal((await list(herd))[0]?.status, 'errored');
  // Still broken: the reload fails and the app waits for its cool-down again.
  const failed = await herd(['reload', 'app']);
  assert.equal(failed.code, 1);
  const d = JSON.parse((await herd(['describe', 'app', '--json'])).stdout) as { status: string; retryAt: number | null };
  assert.equal(d.status, 'errored');
  assert.ok(d.retryAt !== null);
  writeFileSync(path.join(dir, 'version.txt'), 'v3');
  const ok = await herd(['reload', 'app']);
  assert.equal(ok.code, 0, ok.stderr);
  const [app] = await list(herd);
  assert.equal(app?.status, 'online');
  assert.equal(app?.workers.filter((w) => w.status === 'online').length, 2);
  assert.match((await get(port)).body, /^v3 /);
});
