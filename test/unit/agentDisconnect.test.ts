import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eventually, FIXTURES, freePort, get, NODE, ROOT } from '../helpers';
import { procStat } from '../../src/util/procStat';

const AGENT = path.join(ROOT, 'dist', 'agent', 'main.js');

function alive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * A cluster worker whose primary is killed: with Node alone it exits at once
 * (its in-flight request fails); with herd's agent it finishes the request,
 * then exits. The primary stands for the app's shim.
 */
async function killPrimaryMidRequest(t: import('node:test').TestContext, flags: string[]): Promise<{ reply: string | Error; pid: number }> {
  const port = await freePort();
  const primary = spawn(NODE, [path.join(FIXTURES, 'fake-primary.js'), path.join(FIXTURES, 'hello.js'), ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, PORT: String(port), DELAY_MS: '800', LOG_REQUESTS: '1' },
  });
  let out = '';
  primary.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  let workerPid = 0;
  t.after(() => {
    primary.kill('SIGKILL');
    if (workerPid > 0 && alive(workerPid)) process.kill(-workerPid, 'SIGKILL');
  });
  workerPid = Number(await eventually(() => /worker (\d+) listening/.exec(out)?.[1], 10_000, 'the worker to listen'));
  const reply = get(port).then((r) => r.body, (err: Error) => err);
  // The request is in the worker's handler (800 ms) when its primary goes.
  await eventually(() => (out.includes('request /') ? true : undefined), 10_000, 'the request to reach the worker');
  primary.kill('SIGKILL');
  return { reply: await reply, pid: workerPid };
}

test('with the agent, a cluster worker whose primary died finishes its request, then exits', { skip: !existsSync(AGENT) && 'build first (npm run build)' }, async (t) => {
  const { reply, pid } = await killPrimaryMidRequest(t, ['--require', AGENT]);
  assert.equal(reply, `${pid}\n`);
  await eventually(() => (alive(pid) ? undefined : true), 10_000, 'the drained worker to exit');
});

test('without it (Node alone), the same worker exits at once and the request fails', async (t) => {
  const { reply } = await killPrimaryMidRequest(t, []);
  assert.ok(reply instanceof Error, `expected a failed request, got ${String(reply)}`);
});
