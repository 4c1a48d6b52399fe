import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Rotation } from '../../src/agent/rotation';

/** GET / on a keep-alive agent; resolves with the Connection header the server sent. */
function get(port: number, agent: http.Agent): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers.connection));
    }).on('error', reject);
  });
}

test('out of rotation: the server stops accepting and sheds keep-alive clients without emitting close, then listens again', async (t) => {
  let shuttingDown = false;
  const rotation = new Rotation(() => shuttingDown);
  rotation.start();
  const server = http.createServer((_req, res) => res.end('ok'));
  const events: string[] = [];
  server.on('close', () => events.push('close'));
  server.on('listening', () => events.push('listening'));
  // A fixed port, as an app under herd has: listen on 0 first to find a free one.
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  events.length = 0;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => {
    shuttingDown = true;
    server.close();
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  assert.equal(await get(port, agent), 'keep-alive');

  const paused = await rotation.pause(10_000, 1000, 50);
  assert.equal(paused.paused, 1);
  // The idle keep-alive connection was closed; no connection is left.
  assert.equal(paused.closedIdle, 1);
  assert.equal(paused.open, 0);
  assert.equal(server.listening, false);
  // Here nobody else holds the socket (under herd the daemon does): refused.
  await assert.rejects(get(port, new http.Agent()), /ECONNREFUSED/);
  assert.deepEqual(events, ['listening']);

  const resumed = await rotation.resume();
  assert.deepEqual(resumed, { resumed: 1, errors: [] });
  assert.equal(server.listening, true);
  assert.equal(await get(port, agent), 'keep-alive');
  // A second 'listening', and still no 'close'.
  assert.deepEqual(events, ['listening', 'listening']);
});
