import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { eventually, FIXTURES, freePort, herdHome, load } from '../helpers';

interface Hook { status: string; app: string; metric: string; value: number; threshold: number; rule: string }

test('a latency alert fires and resolves; a webhook on loopback receives both, herd alerts shows them', async (t) => {
  const { home, herd } = herdHome(t);
  // The receiver fails its first call: delivery must retry.
  const received: Hook[] = [];
  let calls = 0;
  const receiver = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls++;
      if (calls === 1) {
        res.statusCode = 500;
        res.end();
        return;
      }
      received.push(JSON.parse(body) as Hook);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  t.after(() => receiver.close());
  const hookPort = (receiver.address() as AddressInfo).port;

  const port = await freePort();
  const config = path.join(home, 'herd.config.js');
  writeFileSync(config, `module.exports = {
    alerts: {
      webhook: 'http://127.0.0.1:${hookPort}/hook',
      rules: [{ app: 'api', metric: 'http.latency.p99', above: '100ms', for: '1s', window: '2s' }],
    },
    apps: [{ name: 'api', script: ${JSON.stringify(path.join(FIXTURES, 'latency.js'))}, instances: 2, env: { PORT: ${port} } }],
  };\n`);
  assert.equal((await herd(['start', config])).code, 0);

  const slow = load(port, 4, '/slow');
  const firing = await eventually(() => received.find((h) => h.status === 'firing'), 30_000, 'the firing webhook');
  await slow.stop();
  assert.equal(firing.app, 'api');
  assert.equal(firing.metric, 'http.latency.p99');
  assert.ok(firing.value > 100, `p99 ${firing.value}`);
  assert.equal(firing.threshold, 100);

  const fast = load(port, 2, '/fast');
  const resolved = await eventually(() => received.find((h) => h.status === 'resolved'), 30_000, 'the resolved webhook');
  await fast.stop();
  assert.ok(resolved.value < 100, `p99 ${resolved.value}`);
  assert.ok(calls >= 3, 'the failed first delivery was retried');

  const view = JSON.parse((await herd(['alerts', '--json'])).stdout) as { rules: string[]; active: unknown[]; events: { status: string; delivery: string }[] };
  assert.deepEqual(view.rules, ['api http.latency.p99 above 100ms for 1s']);
  assert.deepEqual(view.active, []);
  assert.deepEqual(view.events.map((e) => [e.status, e.delivery]), [['firing', 'delivered'], ['resolved', 'delivered']]);
  const text = await herd(['alerts']);
  assert.match(text.stdout, /firing api: api http\.latency\.p99 above 100ms/);
});

test('bad alert rules are reported with their paths and change nothing', async (t) => {
  const { home, herd } = herdHome(t);
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({
    alerts: { webhook: 'ftp://nope', rules: [{ metric: 'http.latency.p42', above: '1s' }, { metric: 'cpu', above: 'lots' }, { metric: 'memory.rss' }] },
    apps: [{ name: 'a', script: path.join(FIXTURES, 'hello.js') }],
  }));
  const r = await herd(['start', config]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /alerts\.webhook: must be an http/);
  assert.match(r.stderr, /alerts\.rules\[0\]\.metric: must be one of/);
  assert.match(r.stderr, /alerts\.rules\[1\]\.above: is not a threshold for cpu/);
  assert.match(r.stderr, /alerts\.rules\[2\]: needs above or below/);
});
