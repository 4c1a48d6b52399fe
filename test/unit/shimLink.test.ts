import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { HerdError } from '../../src/errors';
import { SocketLink } from '../../src/daemon/hosts/socketLink';
import type { DaemonToShim, ShimToDaemon } from '../../src/protocol/shim';
import { LinkServer } from '../../src/shim/linkServer';
import { eventually } from '../helpers';

/** A link server that answers hello like the AppHost does and echoes snapshot requests. */
async function server(t: import('node:test').TestContext) {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-link-'));
  const socket = path.join(dir, 'abcdef01.sock');
  const log: string[] = [];
  const link = new LinkServer(socket, 'secret', (m) => log.push(m));
  const got: DaemonToShim[] = [];
  link.onMessage((m) => {
    got.push(m);
    if ('id' in m) link.send({ type: 'reply', id: m.id, ok: true, result: m.type === 'hello' ? { pid: process.pid, protocol: 1, app: 'api', version: 'x' } : null });
  });
  await link.listen();
  t.after(() => {
    link.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { link, socket, got, log };
}

test('a shim socket is 0600; hello with the token connects, and what was sent before goes out after it', async (t) => {
  const { link, socket, got } = await server(t);
  assert.equal(statSync(socket).mode & 0o777, 0o600);
  const daemon = new SocketLink('api');
  t.after(() => daemon.close());
  daemon.send({ type: 'ackExits', upTo: 3 });
  const hello = await daemon.connect(socket, { token: 'secret', takeover: false }, () => {});
  assert.equal(hello.app, 'api');
  await eventually(() => (got.length === 2 ? true : undefined));
  assert.deepEqual(got.map((m) => m.type), ['hello', 'ackExits']);
  const events: ShimToDaemon[] = [];
  daemon.onMessage((m) => events.push(m));
  link.send({ type: 'draining', worker: 1 });
  await eventually(() => (events.length === 1 ? true : undefined));
});

test('a wrong token or protocol is refused (HERD_ERR_SHIM_PROTOCOL); a second daemon without takeover is busy', async (t) => {
  const { socket } = await server(t);
  const wrong = new SocketLink('api');
  await assert.rejects(wrong.connect(socket, { token: 'guess', takeover: false }, () => {}), (err: HerdError) => err.code === 'HERD_ERR_SHIM_PROTOCOL');
  const first = new SocketLink('api');
  t.after(() => first.close());
  await first.connect(socket, { token: 'secret', takeover: false }, () => {});
  const second = new SocketLink('api');
  await assert.rejects(second.connect(socket, { token: 'secret', takeover: false }, () => {}), (err: HerdError) => err.code === 'HERD_ERR_SHIM_BUSY');
});

test('takeover: the new daemon gets the events, the old one is told replaced and closed', async (t) => {
  const { link, socket } = await server(t);
  const old = new SocketLink('api');
  const oldEvents: ShimToDaemon[] = [];
  old.onMessage((m) => oldEvents.push(m));
  let oldClosed = false;
  await old.connect(socket, { token: 'secret', takeover: false }, () => (oldClosed = true));
  const fresh = new SocketLink('api');
  t.after(() => fresh.close());
  const events: ShimToDaemon[] = [];
  fresh.onMessage((m) => events.push(m));
  await fresh.connect(socket, { token: 'secret', takeover: true }, () => {});
  await eventually(() => (oldClosed ? true : undefined));
  assert.deepEqual(oldEvents.map((m) => m.type), ['replaced']);
  link.send({ type: 'draining', worker: 2 });
  await eventually(() => (events.some((m) => m.type === 'draining') ? true : undefined));
});

test('a daemon that does not read: followed lines are dropped and counted, never queued without bound', async (t) => {
  const { link, socket } = await server(t);
  const daemon = new SocketLink('api');
  await daemon.connect(socket, { token: 'secret', takeover: false }, () => {});
  // Stop reading: the kernel buffers fill, then the shim's queue, up to the line cap.
  const raw = (daemon as unknown as { socket: import('node:net').Socket }).socket;
  raw.pause();
  t.after(() => raw.destroy());
  const msg = 'x'.repeat(1000);
  for (let i = 0; i < 20_000; i++) link.send({ type: 'line', line: { time: 0, app: 'api', worker: 0, stream: 'out', msg } });
  assert.ok(link.linesDropped > 0, 'some lines dropped');
  assert.ok(link.linesDropped < 20_000);
});
