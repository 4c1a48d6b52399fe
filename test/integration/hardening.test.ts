import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { eventually, FIXTURES, freePort, herdHome, kill, list } from '../helpers';

interface Detail { events: { worker: number | null; message: string }[] }

test('a healthy worker killed with -9 again and again is replaced at once each time; backoff does not grow', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'chaos.config.json');
  // A long initial delay: with backoff doubling on every kill, the 4th kill would wait 8 s.
  writeFileSync(config, JSON.stringify({
    apps: [{
      name: 'api', script: path.join(FIXTURES, 'hello.js'), instances: 1, env: { PORT: String(port) },
      backoff: { initial: '1s', factor: 2 }, crashLoop: { minUptime: '200ms' },
    }],
  }));
  assert.equal((await herd(['start', config])).code, 0);
  for (let round = 0; round < 4; round++) {
    // Killed once it has served for longer than minUptime.
    const victim = await eventually(async () => {
      const w = (await list(herd))[0]?.workers[0];
      return w && w.status === 'online' && w.uptimeMs >= 400 ? w : undefined;
    }, 15_000, 'a worker that has served');
    kill(victim.pid as number);
    await eventually(async () => {
      const w = (await list(herd))[0]?.workers[0];
      return w && w.pid !== victim.pid && w.status === 'online' ? w : undefined;
    }, 15_000, `replacement ${round + 1} online`);
  }
  const d = JSON.parse((await herd(['describe', 'api', '--json'])).stdout) as Detail;
  const decisions = d.events.map((e) => e.message).filter((m) => /^(replacing it at once|restarting it in)/.test(m));
  assert.equal(decisions.length, 4, decisions.join('\n'));
  for (const m of decisions) assert.match(m, /^replacing it at once \(it served \d/);
});

test('a worker that crashes at boot still backs off, growing, into the crash loop', async (t) => {
  const { herd } = herdHome(t);
  const r = await herd(['start', path.join(FIXTURES, 'crash-at-boot.js'), '--name', 'boom']);
  assert.equal(r.code, 1);
  const d = JSON.parse((await herd(['describe', 'boom', '--json'])).stdout) as Detail;
  const delays = d.events.map((e) => /^restarting it in (\d+)ms$/.exec(e.message)?.[1]).filter((x) => x !== undefined).map(Number);
  assert.ok(delays.length >= 2, d.events.map((e) => e.message).join('\n'));
  for (let i = 1; i < delays.length; i++) assert.ok((delays[i] as number) > (delays[i - 1] as number), delays.join());
});
