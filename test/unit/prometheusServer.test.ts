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

test('moving to a port that is taken keeps the endpoint serving where it was', async (t) => {
  const holder = http.createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  t.after(() => holder.close());
  const taken = (holder.address() as { port: number }).port;
  const server = new PrometheusServer(() => 'herd_up 1\n');
  t.after(() => server.close());
  const address = await server.configure({ port: 0, host: '127.0.0.1', token: null });

  await assert.rejects(server.configure({ port: taken, host: '127.0.0.1', token: null }),
    (err: unknown) => err instanceof HerdError && err.code === 'HERD_ERR_METRICS_LISTEN' && err.message.includes(`127.0.0.1:${taken}`));
  assert.equal(server.address, address);
  assert.equal((await fetch(address as string)).body, 'herd_up 1\n');
  // The same settings again are tried again, not taken for the ones it serves with.
  await assert.rejects(server.configure({ port: taken, host: '127.0.0.1', token: null }), /HERD_ERR_METRICS_LISTEN|cannot serve/);
  assert.equal((await fetch(address as string)).status, 200);
});

test('a new token on the same port takes effect without a rebind', async (t) => {
  const server = new PrometheusServer(() => 'herd_up 1\n');
  t.after(() => server.close());
  const first = await server.configure({ port: 0, host: '127.0.0.1', token: null });
  const port = Number(/:(\d+)\//.exec(first ?? '')?.[1]);
  // The port it serves on, named: binding a second server there first would find it taken by the first.
  const fixed = await server.configure({ port, host: '127.0.0.1', token: null });
  assert.equal(fixed, first);
  assert.equal(await server.configure({ port, host: '127.0.0.1', token: 's3cret' }), first);
  assert.equal((await fetch(first as string)).status, 401);
  assert.equal((await fetch(first as string, { authorization: 'Bearer s3cret' })).status, 200);
});
