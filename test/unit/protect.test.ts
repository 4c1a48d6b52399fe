import assert from 'node:assert/strict';
import * as diagnostics from 'node:diagnostics_channel';
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import { test } from 'node:test';
import { Agent, type AgentChannel } from '../../src/agent/agent';
import { ADMIT_RATIO, OverloadGuard, RECOVER_RATIO, SHED, SheddingState } from '../../src/agent/overload';
import { parseStatusLine, SELF_REQUEST, selfRequest } from '../../src/agent/selfRequest';
import { captureStack, formatFrame } from '../../src/daemon/worker/stackCapture';
import { openWebSocket } from '../../src/daemon/worker/inspectorSession';
import type { AgentToDaemon, DaemonToAgent } from '../../src/protocol/agent';
import { freePort, inspectableChild } from '../helpers';

test('shedding state: enters at a limit, leaves only after an interval under 80% of every limit', () => {
  const state = new SheddingState({ maxEventLoopDelay: 100, maxEventLoopUtilization: 0.9 });
  assert.equal(state.update({ delayMs: 99, utilization: 0.5 }), false);
  assert.equal(state.update({ delayMs: 100, utilization: 0.5 }), true);
  // Between 80% and 100%: still shedding (no flapping around the limit).
  assert.equal(state.update({ delayMs: 90, utilization: 0.5 }), true);
  assert.equal(state.update({ delayMs: 100 * RECOVER_RATIO, utilization: 0.5 }), true);
  assert.equal(state.update({ delayMs: 79, utilization: 0.5 }), false);
  // Utilisation alone enters too, and must also fall under 80% to leave.
  assert.equal(state.update({ delayMs: 0, utilization: 0.95 }), true);
  assert.equal(state.update({ delayMs: 0, utilization: 0.8 }), true);
  assert.equal(state.update({ delayMs: 0, utilization: 0.7 }), false);
  // A limit that is not set is never the reason.
  const delayOnly = new SheddingState({ maxEventLoopDelay: 100, maxEventLoopUtilization: null });
  assert.equal(delayOnly.update({ delayMs: 0, utilization: 1 }), false);
});

test('overload guard: a loop busy past half the delay limit turns new requests away; exempt paths pass', (t) => {
  const guard = new OverloadGuard({ maxEventLoopDelay: 100, maxEventLoopUtilization: null, maxInFlight: null, retryAfter: 1000, exempt: ['/health'] });
  t.after(() => guard.close());
  const end = Date.now() + 100 * ADMIT_RATIO + 10;
  while (Date.now() < end) { /* the heartbeat cannot fire meanwhile */ }
  assert.equal(guard.shouldShed('/users/1'), true);
  assert.equal(guard.shouldShed('/health?verbose=1'), false);
});

test('overload guard: a shed request gets 503 + Retry-After and never reaches the app', async (t) => {
  const guard = new OverloadGuard({ maxEventLoopDelay: null, maxEventLoopUtilization: null, maxInFlight: 1, retryAfter: 1500, exempt: [] });
  let reached = 0;
  let release: () => void = () => {};
  const marks: boolean[] = [];
  const onStart = (m: unknown) => {
    const { response } = m as { response: http.ServerResponse };
    response.once('finish', () => marks.push((response as unknown as Record<symbol, boolean>)[SHED] === true));
  };
  diagnostics.channel('http.server.request.start').subscribe(onStart);
  t.after(() => diagnostics.channel('http.server.request.start').unsubscribe(onStart));
  const server = http.createServer((_req, res) => {
    reached++;
    release = () => res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    guard.close();
    server.close();
  });
  const port = (server.address() as { port: number }).port;
  const request = () => new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res));
    }).on('error', reject);
  });
  const first = request();
  while (reached === 0) await new Promise((r) => setTimeout(r, 10));
  const second = await request();
  assert.equal(second.statusCode, 503);
  assert.equal(second.headers['retry-after'], '2');
  assert.equal(reached, 1);
  assert.equal(guard.shed, 1);
  release();
  assert.equal((await first).statusCode, 200);
  // Per-request consumers see the shed request, marked as such.
  assert.deepEqual(marks, [true, false]);
});

test('health request: status line parsing', () => {
  assert.equal(parseStatusLine('HTTP/1.1 200 OK\r\n'), 200);
  assert.equal(parseStatusLine('HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1'), 503);
  assert.equal(parseStatusLine('HTTP/1.0 204\r\n'), 204);
  assert.equal(parseStatusLine('HTTP/1.1 200 O'), null);
  assert.equal(parseStatusLine('SSH-2.0-OpenSSH\r\n'), 0);
});

test('health request: injected into the server in-process, through the app handler; time-boxed', async (t) => {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.socket.remoteAddress}`);
    assert.equal((req.socket as unknown as Record<symbol, boolean>)[SELF_REQUEST], true);
    if (req.url === '/hang') return;
    res.statusCode = req.url === '/health' ? 200 : 500;
    res.end();
  });
  // The worker's own server keeps it alive; here nothing would (the check's timer is unref'd).
  const keepAlive = setInterval(() => {}, 1000);
  t.after(() => {
    clearInterval(keepAlive);
    server.close();
  });
  // Not even listening: the request never touches the network.
  assert.deepEqual(await selfRequest('/health', 1000, server), { status: 200, error: null });
  assert.deepEqual(await selfRequest('/broken', 1000, server), { status: 500, error: null });
  const hung = await selfRequest('/hang', 100, server);
  assert.equal(hung.status, 0);
  assert.match(hung.error ?? '', /no answer within 100ms/);
  assert.deepEqual(seen, ['GET /health 127.0.0.1', 'GET /broken 127.0.0.1', 'GET /hang 127.0.0.1']);
  assert.match((await selfRequest('/health', 100, undefined)).error ?? '', /no listening HTTP server/);
});

test('agent answers ping with pong and healthCheck with healthResult', async () => {
  const sent: AgentToDaemon[] = [];
  let handler: (m: DaemonToAgent) => void = () => {};
  const channel: AgentChannel = { send: (m) => sent.push(m), onMessage: (h) => (handler = h), hasSignalHandlers: () => false, raise: () => {}, exit: () => {} };
  new Agent(channel, 'app', 0, undefined, {
    shedStats: () => ({ shed: 7, shedding: true }),
    listeningServers: () => 0,
    healthCheck: async (path) => ({ status: path === '/health' ? 204 : 0, error: null }),
  });
  handler({ type: 'ping', seq: 3 });
  handler({ type: 'healthCheck', id: 9, path: '/health', timeoutMs: 100 });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent, [
    { type: 'pong', seq: 3, shed: 7, shedding: true, servers: 0 },
    { type: 'healthResult', id: 9, status: 204, error: null },
  ]);
});

// Node 20 has the WebSocket client only behind --experimental-websocket (herd start passes it).
const NO_CLIENT = 'WebSocket' in globalThis ? null : /has no WebSocket client \(Node 20 needs --experimental-websocket/;

/** A server on 127.0.0.1 for the test's lifetime; its ws:// URL. */
async function serve(t: { after: (fn: () => void) => void }, server: net.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  return `ws://127.0.0.1:${(server.address() as net.AddressInfo).port}/x`;
}

test('inspector connection: no handshake answer times out; a refused port or an HTTP answer fails at once', async (t) => {
  const held: net.Socket[] = [];
  t.after(() => held.forEach((s) => s.destroy()));
  const mute = await serve(t, net.createServer((s) => held.push(s)));
  const notFound = await serve(t, http.createServer((_req, res) => res.writeHead(404).end()));
  // A port just given up: nothing listens there.
  const closedPort = `ws://127.0.0.1:${await freePort()}/x`;
  const started = Date.now();
  await assert.rejects(openWebSocket(mute, 300), NO_CLIENT ?? /no WebSocket handshake within 300ms/);
  assert.ok(Date.now() - started < 2000, 'the timeout holds');
  for (const url of [notFound, closedPort]) {
    await assert.rejects(openWebSocket(url, 5000), NO_CLIENT ?? /the WebSocket handshake failed/);
  }
  const none = await captureStack({ openInspector: () => Promise.resolve(closedPort) }, 1000);
  assert.deepEqual(none.frames, []);
  assert.match(none.error ?? '', /^cannot connect to the inspector: /);
});

test('stack capture: a real busy loop is paused through its inspector and read innermost first', async (t) => {
  const child = spawn(process.execPath, ['--inspect-port=0', '-e', 'function spinForever() { for (;;) {} }\nconsole.log("spinning"); spinForever();'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.stdout.once('data', resolve));
  const proc = inspectableChild(child);
  const stack = await captureStack(proc, 5000);
  if (NO_CLIENT) {
    assert.match(stack.error ?? '', NO_CLIENT);
    return;
  }
  assert.equal(stack.error, null);
  assert.match(stack.frames[0] ?? '', /^at spinForever \(\[eval\]:1:/);
});

test('stack frames read like an Error stack, 1-based', () => {
  assert.equal(formatFrame({ functionName: 'spin', url: 'file:///app/x.js', location: { scriptId: '1', lineNumber: 3, columnNumber: 2 } }), 'at spin (file:///app/x.js:4:3)');
  assert.equal(formatFrame({ functionName: '', url: '', location: { scriptId: '1', lineNumber: 0, columnNumber: 0 } }), 'at <anonymous>:1:1');
});
