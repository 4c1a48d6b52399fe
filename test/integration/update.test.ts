import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { HerdClient } from '../../src/client/client';
import { eventually, FIXTURES, freePort, get, herdHome, list, load, running, type CliResult } from '../helpers';

type Herd = (args: string[], env?: Record<string, string>) => Promise<CliResult>;

async function shimPid(herd: Herd, name: string): Promise<number> {
  const r = await herd(['describe', name, '--json']);
  assert.equal(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { shim: { pid: number } }).shim.pid;
}

/** A request loop until stop(): counts answers that were not `ok`, and errors by message. */
function probe(t: TestContext, once: () => Promise<boolean>): { stop: () => Promise<{ ok: number; failed: number; errors: string[] }> } {
  let on = true;
  const stats = { ok: 0, failed: 0, errors: [] as string[] };
  const loop = (async () => {
    while (on) {
      const ok = await once().catch((err: Error) => {
        if (stats.errors.length < 5) stats.errors.push(err.message);
        return false;
      });
      if (ok) stats.ok++;
      else stats.failed++;
    }
  })();
  const stop = async () => {
    on = false;
    await loop;
    return stats;
  };
  // A failed assertion must not leave the loop running (the test file would never end).
  t.after(stop);
  return { stop };
}

function httpStatus(port: number, urlPath: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    // A request left unanswered is a failure to count, not a test that never ends.
    req.on('timeout', () => req.destroy(new Error(`no answer from ${urlPath} within 5 s`)));
    req.on('error', reject);
  });
}

test('herd update under load: the daemon pid changes, worker and shim pids do not; 0 failed requests, the control socket, /ready and Prometheus answer throughout', async (t) => {
  const { home, herd } = herdHome(t);
  const [port, healthPort, promPort] = [await freePort(), await freePort(), await freePort()];
  const config = path.join(home, 'herd.config.js');
  writeFileSync(config, `module.exports = ${JSON.stringify({
    health: { port: healthPort },
    metrics: { prometheus: { port: promPort } },
    apps: [{ name: 'num', script: path.join(FIXTURES, 'numbered-lines.js'), instances: 2, env: { PORT: String(port) } }],
  })};\n`);
  const started = await herd(['start', config]);
  assert.equal(started.code, 0, started.stderr);
  const oldDaemon = Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
  const workers = (await list(herd))[0]?.workers.map((w) => w.pid);
  const shim = await shimPid(herd, 'num');

  const traffic = load(port, 50);
  t.after(() => traffic.stop());
  const control = probe(t, () => Promise.race([HerdClient.isRunning(home), new Promise<boolean>((_, reject) => setTimeout(() => reject(new Error('no connection within 5 s')), 5000).unref())]));
  const ready = probe(t, async () => (await httpStatus(healthPort, '/ready')) === 200);
  const metrics = probe(t, async () => (await httpStatus(promPort, '/metrics')) === 200);
  const r = await herd(['update']);
  assert.equal(r.code, 0, r.stderr);
  // A command right after is answered (by the new daemon; the old one, still exiting, refuses and the CLI asks again).
  const next = await herd(['list', '--json']);
  assert.equal(next.code, 0, next.stderr);
  const newDaemon = Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
  assert.match(r.stdout, new RegExp(`daemon pid ${oldDaemon} -> ${newDaemon}; 1 app\\(s\\), 2 worker\\(s\\) kept`));
  assert.notEqual(newDaemon, oldDaemon);
  // It lets requests in flight on its endpoints finish first (2 s at most).
  await eventually(() => (running(oldDaemon) ? undefined : true), 10_000, 'the old daemon to exit');
  // The new daemon drives the same workers: a reload goes through it.
  assert.deepEqual((await list(herd))[0]?.workers.map((w) => w.pid), workers, 'the same workers');
  assert.equal(await shimPid(herd, 'num'), shim, 'the same shim');
  const reload = await herd(['reload', 'num']);
  assert.equal(reload.code, 0, reload.stderr);

  const [requests, controlStats, readyStats, metricStats] = await Promise.all([traffic.stop(), control.stop(), ready.stop(), metrics.stop()]);
  assert.equal(requests.failed, 0, requests.errors.join('; '));
  assert.equal(requests.non2xx, 0);
  assert.ok(requests.ok > 0);
  assert.equal(controlStats.failed, 0, `control socket: ${controlStats.errors.join('; ')}`);
  assert.ok(controlStats.ok > 0);
  assert.equal(readyStats.failed, 0, `/ready: ${readyStats.errors.join('; ')}`);
  assert.equal(metricStats.failed, 0, `/metrics: ${metricStats.errors.join('; ')}`);
  assert.match(readFileSync(path.join(home, 'daemon.log'), 'utf8'), new RegExp(`took over from daemon pid ${oldDaemon}`));
});

test('herd update to a daemon that cannot start: exit 1 with HERD_ERR_UPDATE_FAILED, and the running daemon keeps its apps and answers', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port) })).code, 0);
  const daemon = Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8'));
  const workers = (await list(herd))[0]?.workers.map((w) => w.pid);
  const client = await HerdClient.connect({ home });
  try {
    await assert.rejects(
      client.request({ type: 'update', execPath: process.execPath, daemonMain: path.join(FIXTURES, 'exits-at-once.js') }),
      (err: Error & { code?: string }) => err.code === 'HERD_ERR_UPDATE_FAILED' && /exited \(code 3\) before it was ready/.test(err.message),
    );
  } finally {
    client.close();
  }
  assert.equal(Number(readFileSync(path.join(home, 'daemon.pid'), 'utf8')), daemon);
  assert.deepEqual((await list(herd))[0]?.workers.map((w) => w.pid), workers);
  // Still in charge: it reloads the app, and its supervision works (a killed worker is replaced).
  assert.equal((await herd(['reload', 'api'])).code, 0);
  assert.equal((await get(port)).status, 200);
  const bad = await herd(['update', 'now']);
  assert.equal(bad.code, 2, 'a stray argument is a usage error');
});
