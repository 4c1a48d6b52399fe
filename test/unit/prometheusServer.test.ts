import assert from 'node:assert/strict';
import * as http from 'node:http';
import { test } from 'node:test';
import { PrometheusServer } from '../../src/daemon/http/prometheusServer';
import { HerdError } from '../../src/errors';

function fetch(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string; type: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: String(res.headers['content-type']) }));
    }).on('error', reject);
  });
}

test('the Prometheus endpoint serves /metrics on loopback, checks the token, and restarts on a settings change', async (t) => {
  let renders = 0;
  const server = new PrometheusServer(() => `herd_app_up{app="x"} ${++renders}\n`);
  t.after(() => server.close());
  const address = await server.configure({ port: 0, host: '127.0.0.1', token: null });
  assert.match(address ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
  const open = await fetch(address as string);
  assert.equal(open.status, 200);
  assert.match(open.type, /^text\/plain; version=0\.0\.4/);
  assert.equal(open.body, 'herd_app_up{app="x"} 1\n');
  assert.equal((await fetch((address as string).replace('/metrics', '/'))).status, 404);

  const guarded = await server.configure({ port: 0, host: '127.0.0.1', token: 's3cret' });
  assert.notEqual(guarded, address);
  assert.equal((await fetch(guarded as string)).status, 401);
  assert.equal((await fetch(guarded as string, { authorization: 'Bearer wrong!' })).status, 401);
  assert.equal((await fetch(guarded as string, { authorization: 'Bearer s3cret' })).status, 200);

  assert.equal(await server.configure(null), null);
  assert.equal(server.address, null);
});

test('a port that cannot be bound is a HERD_ERR_METRICS_LISTEN error', async (t) => {
  const first = new PrometheusServer(() => '');
  t.after(() => first.close());
  const address = await first.configure({ port: 0, host: '127.0.0.1', token: null });
  const port = Number(/:(\d+)\//.exec(address ?? '')?.[1]);
  const second = new PrometheusServer(() => '');
  t.after(() => second.close());
  await assert.rejects(second.configure({ port, host: '127.0.0.1', token: null }), (err: unknown) => err instanceof HerdError && err.code === 'HERD_ERR_METRICS_LISTEN');
});
