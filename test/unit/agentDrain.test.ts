import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { Agent, type AgentChannel } from '../../src/agent/agent';
import type { AgentToDaemon, DaemonToAgent } from '../../src/protocol/agent';

/** A channel the test drives instead of a real IPC pipe. */
function fakeChannel() {
  const sent: AgentToDaemon[] = [];
  let handler: (m: DaemonToAgent) => void = () => {};
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => (exited = resolve));
  const channel: AgentChannel = {
    send: (m) => sent.push(m),
    onMessage: (h) => (handler = h),
    hasSignalHandlers: () => false,
    raise: () => {},
    exit: (code) => exited(code),
  };
  return { channel, sent, deliver: (m: DaemonToAgent) => handler(m), exit };
}

test('shutdown finishes the in-flight request with Connection: close, runs hooks, then exits 0', async (t) => {
  const server = http.createServer((_req, res) => setTimeout(() => res.end('done'), 200));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const { channel, sent, deliver, exit } = fakeChannel();
  const agent = new Agent(channel, 'app', 0);
  const order: string[] = [];
  agent.onShutdown(() => {
    order.push('hook');
  });

  const agentHttp = new http.Agent({ keepAlive: true });
  t.after(() => agentHttp.destroy());
  const reply = new Promise<{ body: string; connection: string | undefined }>((resolve, reject) => {
    http.get({ port, host: '127.0.0.1', agent: agentHttp }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => {
        order.push('response');
        resolve({ body, connection: res.headers.connection });
      });
    }).on('error', reject);
  });
  // Shut down once the request is being handled.
  await new Promise<void>((resolve) => server.once('request', () => resolve()));
  deliver({ type: 'shutdown', timeoutMs: 5000, websocketDrainMs: 2000 });
  assert.equal(server.listening, false);
  const r = await reply;
  assert.equal(r.body, 'done');
  assert.equal(r.connection, 'close');
  assert.equal(await exit, 0);
  assert.deepEqual(order, ['response', 'hook']);
  assert.deepEqual(sent.map((m) => m.type), ['draining', 'drained']);
});

test('ready() tells the daemon', () => {
  const { channel, sent } = fakeChannel();
  new Agent(channel, 'app', 3).ready();
  assert.deepEqual(sent, [{ type: 'ready' }]);
});
