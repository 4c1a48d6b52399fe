// Apps shaped like real ones that herd got wrong: they start child processes,
// cluster themselves, run in fork mode, close their server on SIGTERM, or
// hold WebSockets open.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { FIXTURES, freePort, get, herdHome, list, load, RUNTIME } from '../helpers';

type Herd = ReturnType<typeof herdHome>;

/** Writes a herd config with these apps into the test's HERD_HOME and returns its path. */
function config(h: Herd, apps: Record<string, unknown>[]): string {
  const file = path.join(h.home, 'herd.config.json');
  writeFileSync(file, JSON.stringify({ apps }));
  return file;
}

/** Variables only herd's agent reads: a child of a worker must not see them. */
const AGENT_ONLY = ['NODE_UNIQUE_ID', 'HERD_METRICS', 'HERD_OVERLOAD', 'HERD_ACCESS_LOG', 'HERD_LISTEN_FDS'];

for (const execMode of ['cluster', 'fork'] as const) {
  test(`${execMode} mode: a worker's fork() and spawn(process.execPath) children run as under plain node`, async (t) => {
    const h = herdHome(t);
    const port = await freePort();
    const file = config(h, [{
      name: 'jobs', script: path.join(FIXTURES, 'real-fork-child.js'), execMode, nodeArgs: ['--max-old-space-size=256'],
      env: { PORT: String(port) }, accessLog: true, overload: { maxInFlight: 1000 },
    }]);
    const started = await h.herd(['start', file]);
    assert.equal(started.code, 0, started.stderr);
    for (let i = 0; i < 3; i++) {
      const r = await get(port);
      assert.equal(r.status, 200);
      const reply = JSON.parse(r.body) as { result: number; execArgv: string[]; env: string[]; isWorker: boolean; agent: boolean };
      assert.equal(reply.result, 42);
      // The app's own Node options are passed on, herd's are not.
      assert.deepEqual(reply.execArgv, ['--max-old-space-size=256']);
      assert.equal(reply.isWorker, false);
      assert.equal(reply.agent, false);
      for (const name of AGENT_ONLY) assert.ok(!reply.env.includes(name), `${name} in the child's environment`);
      // Documented for the app, and a child belongs to the same worker.
      assert.ok(reply.env.includes('HERD_WORKER_ID') && reply.env.includes('NODE_APP_INSTANCE'));
    }
    const spawned = JSON.parse((await get(port, '/spawn')).body) as { code: number; child: { execArgv: string[]; env: string[]; agent: boolean } };
    assert.equal(spawned.code, 0);
    assert.deepEqual(spawned.child.execArgv, []);
    assert.equal(spawned.child.agent, false);
    for (const name of AGENT_ONLY) assert.ok(!spawned.child.env.includes(name), `${name} in the spawned child's environment`);
    const [app] = await list(h.herd);
    assert.equal(app?.workers[0]?.restarts, 0, 'the worker never crashed');
  });
}
