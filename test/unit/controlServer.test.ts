import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { ControlServer, type HandlerTable } from '../../src/daemon/control/controlServer';
import { encode, LineDecoder } from '../../src/protocol/framing';
import { PROTOCOL_VERSION } from '../../src/protocol/version';
import { eventually } from '../helpers';

/** A real control server on a Unix socket in a temporary directory, answering hello only. */
async function server(t: TestContext, limits: { halfSentMs: number; maxConnections: number }): Promise<{ control: ControlServer; socket: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-control-'));
  const socket = path.join(dir, 'herd.sock');
  const handlers = { hello: async () => ({ protocol: PROTOCOL_VERSION, version: 'test', pid: process.pid, home: dir }) } as unknown as HandlerTable;
  const control = new ControlServer(handlers, limits);
  await control.listen(socket);
  t.after(async () => {
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { control, socket };
}

function connect(socket: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socket, () => resolve(s));
    s.once('error', reject);
  });
}

const closed = (s: net.Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

function hello(s: net.Socket): Promise<string> {
  return new Promise((resolve) => {
    s.setEncoding('utf8');
    s.once('data', (c: string) => resolve(c));
    s.write(encode({ v: PROTOCOL_VERSION, id: 1, request: { type: 'hello' } }));
  });
}

test('the decoder throws as soon as an unfinished line passes the limit, across chunks', () => {
  const d = new LineDecoder(10);
  assert.deepEqual(d.push('abcd'), []);
  assert.deepEqual(d.push('efg'), []);
  assert.throws(() => d.push('hijk\n'), /longer than 10/);
  // After the error it starts clean.
  assert.deepEqual(d.push('ok\n'), ['ok']);
  assert.equal(d.pending, 0);
});

test('a line over the limit gets an error and the connection is closed; the server stops reading it', async (t) => {
  const { socket } = await server(t, { halfSentMs: 60_000, maxConnections: 256 });
  const s = await connect(socket);
  s.on('error', () => {});
  let reply = '';
  s.setEncoding('utf8').on('data', (c: string) => (reply += c));
  const chunk = 'x'.repeat(1024 * 1024);
  // 64 MB without a newline: the daemon must close long before it is all sent.
  let sent = 0;
  const gone = closed(s);
  while (sent < 64 && !s.destroyed) {
    if (!s.write(chunk)) await Promise.race([new Promise((r) => s.once('drain', r)), gone]);
    sent++;
  }
  await gone;
  assert.match(reply, /HERD_ERR_BAD_REQUEST/);
  assert.match(reply, /longer than/);
});

test('connections that send half a line, or nothing, are closed after the timeout; whole requests are answered', async (t) => {
  const { control, socket } = await server(t, { halfSentMs: 300, maxConnections: 256 });
  const half = await Promise.all(Array.from({ length: 50 }, () => connect(socket)));
  for (const s of half.slice(0, 25)) s.write('{"v":1,"id":1,"requ');
  const good = await connect(socket);
  assert.match(await hello(good), /"ok":true/);
  await Promise.all(half.map(closed));
  // The one that finished its request stays open (a programmatic client may keep it).
  assert.equal(good.destroyed, false);
  await eventually(() => (control.connections === 1 ? true : undefined), 5000, 'only the good connection left');
  good.destroy();
});

test('past the connection cap the longest-idle connection makes room; a new client is never refused', async (t) => {
  const { control, socket } = await server(t, { halfSentMs: 60_000, maxConnections: 10 });
  const idle: net.Socket[] = [];
  for (let i = 0; i < 10; i++) {
    const s = await connect(socket);
    await hello(s);
    idle.push(s);
  }
  const first = idle[0] as net.Socket;
  const late = await connect(socket);
  assert.match(await hello(late), /"ok":true/);
  await closed(first);
  assert.equal(control.connections, 10);
  for (const s of [...idle, late]) s.destroy();
});

test('many requests on one connection add no listener per request (no MaxListenersExceededWarning)', async (t) => {
  const { socket } = await server(t, { halfSentMs: 10_000, maxConnections: 16 });
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  t.after(() => process.off('warning', onWarning));
  const s = await connect(socket);
  t.after(() => s.destroy());
  s.setEncoding('utf8');
  let answers = 0;
  s.on('data', (c: string) => (answers += c.split('\n').filter((l) => l !== '').length));
  for (let i = 0; i < 30; i++) s.write(encode({ v: PROTOCOL_VERSION, id: i + 1, request: { type: 'hello' } }));
  await eventually(() => (answers >= 30 ? true : undefined), 5000, '30 answers');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), []);
});

test('a file sent in chunks waits for a client that does not read, then arrives whole and in order', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-control-'));
  const socketPath = path.join(dir, 'herd.sock');
  const piece = (i: number) => `${String(i).padStart(6, '0')}${'x'.repeat(64 * 1024)}`;
  const COUNT = 300;
  let sent = 0;
  let onBlocked: (sent: number) => void = () => {};
  const blocked = new Promise<number>((resolve) => (onBlocked = resolve));
  const handlers = {
    hello: async (_r: unknown, _p: unknown, stream: { chunk(d: string): Promise<void> }) => {
      for (let i = 0; i < COUNT; i++) {
        let settled = false;
        const p = stream.chunk(piece(i)).then(() => (settled = true));
        sent++;
        await Promise.resolve();
        if (!settled) onBlocked(sent);
        await p;
      }
      onBlocked(sent);
      return { protocol: PROTOCOL_VERSION, version: 'test', pid: process.pid, home: dir };
    },
  } as unknown as HandlerTable;
  const control = new ControlServer(handlers);
  await control.listen(socketPath);
  t.after(async () => {
    await control.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const s = await connect(socketPath);
  t.after(() => s.destroy());
  s.pause();
  s.write(encode({ v: PROTOCOL_VERSION, id: 1, request: { type: 'hello' } }));
  const at = await blocked;
  assert.ok(at < COUNT, 'the sender waits while the client does not read');
  const decoder = new LineDecoder();
  const got: string[] = [];
  const result = new Promise<{ kind: string; ok: boolean }>((resolve) => {
    s.setEncoding('utf8').on('data', (c: string) => {
      for (const line of decoder.push(c)) {
        const reply = JSON.parse(line) as { kind: string; ok: boolean; data: string };
        if (reply.kind === 'chunk') got.push(reply.data);
        else resolve(reply);
      }
    });
  });
  s.resume();
  assert.equal((await result).ok, true);
  assert.equal(got.length, COUNT);
  got.forEach((d, i) => assert.equal(d, piece(i)));
});
