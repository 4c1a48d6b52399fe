import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { CLI, eventually, FIXTURES, freePort, get, NODE, runCli } from '../helpers';

test('herd run: serves in the foreground, SIGHUP reloads, SIGTERM drains and exits 0', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-run-'));
  const port = await freePort();
  const child = spawn(NODE, [CLI, 'run', path.join(FIXTURES, 'hello.js'), '--name', 'fg', '-i', '2'], {
    env: { ...process.env, HERD_HOME: home, PORT: String(port), DELAY_MS: '300', LOG_REQUESTS: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => {
    child.kill('SIGKILL');
    rmSync(home, { recursive: true, force: true });
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  t.after(() => { if (process.env.HERD_TEST_DEBUG) console.error(stdout, stderr); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

  await eventually(() => (stderr.includes('running fg') ? true : undefined), 15_000, 'herd run to start');
  assert.equal((await get(port)).status, 200);
  // The control socket works in foreground mode too.
  const listed = await runCli(['list', '--json'], { HERD_HOME: home });
  const pids = (JSON.parse(listed.stdout) as { workers: { pid: number }[] }[])[0]?.workers.map((w) => w.pid);
  assert.equal(pids?.length, 2);

  child.kill('SIGHUP');
  await eventually(() => (stderr.includes('reload done') ? true : undefined), 20_000, 'reload on SIGHUP');
  const after = (JSON.parse((await runCli(['list', '--json'], { HERD_HOME: home })).stdout) as { workers: { pid: number }[] }[])[0]?.workers.map((w) => w.pid);
  assert.ok(after?.every((p) => !pids?.includes(p)), 'every worker replaced');

  const inFlight = get(port, '/in-flight');
  // SIGTERM once a worker has the request: in flight, it must be answered.
  await eventually(() => (stdout.includes('request /in-flight') ? true : undefined), 10_000, 'request in flight');
  child.kill('SIGTERM');
  assert.equal((await inFlight).status, 200);
  assert.equal(await exited, 0);
});
