import assert from 'node:assert/strict';
import { test } from 'node:test';
import Redis from 'ioredis';
import { CommandReader } from '../../src/fleet/commandReader';
import type { FleetCommand } from '../../src/fleet/commands';
import { sendCommand } from '../../src/fleet/commandSender';
import { FleetMember } from '../../src/fleet/member';
import { eventually } from '../helpers';
import { redisProblem, startRedis } from './redisServer';

const SECRET = 'withdraw-test-secret-0123456789';

test('a command a busy host did not take in time is withdrawn: reported not taken, and never run when the host gets to it', { skip: redisProblem() }, async (t) => {
  const redis = await startRedis(t, { bind: ['127.0.0.1'] });
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const ran: string[] = [];
  const notes: string[] = [];
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  const reader = new CommandReader(client, 'web-1', SECRET, {
    runs: (app) => app === 'api',
    execute: async (c: FleetCommand) => {
      ran.push(c.verb);
      // The first command is a long one: a reload of many workers.
      if (c.verb === 'reload') await held;
      return { names: ['api'] };
    },
  }, (line) => notes.push(line));
  // Closed before Redis stops (after hooks run in order, and Redis's came first): a reader left blocking on a
  // server that went away would wait out its command timeout.
  try {
    // Its consumer group reads from when it was made ('$'): a command sent before would not be seen.
    await eventually(async () => ((await client.xinfo('GROUPS', 'herd:fleet:cmd:web-1').catch(() => [])) as unknown[]).length > 0 || undefined, 10_000, 'the reader\'s consumer group');
    const send = (verb: 'reload' | 'restart', acceptMs: number) => sendCommand(client, ['web-1'], {
      secret: SECRET, sender: 'cli:1', verb, app: 'api', acceptMs, timeoutMs: 60_000, alive: async () => true, progress: () => {},
    });
    const long = send('reload', 10_000);
    await eventually(() => ran.includes('reload') || undefined, 10_000, 'the reload runs');
    const [late] = await send('restart', 500);
    assert.equal(late?.ok, false);
    assert.equal(late?.code, 'unanswered');
    assert.match(late?.message ?? '', /did not take the command within 1 s .*; it was withdrawn and will not run/);
    release();
    const [first] = await long;
    assert.equal(first?.ok, true, first?.message ?? '');
    await eventually(() => notes.some((n) => /refused restart api from cli:1/.test(n)) || undefined, 10_000, 'the host refuses the withdrawn command');
    assert.deepEqual(ran, ['reload'], 'the withdrawn restart never ran');
    assert.ok(notes.some((n) => /withdrawn by cli:1 \(it waited too long to be taken\)/.test(n)), notes.join('\n'));
  } finally {
    release();
    await reader.close();
    client.disconnect();
  }
});

test('one fleet reload per app at a time: a second is refused naming the first; the lock goes when the rollout ends', { skip: redisProblem() }, async (t) => {
  const redis = await startRedis(t, { bind: ['127.0.0.1'] });
  const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const member = new FleetMember({ redis: redis.url, host: 'web-1', address: '127.0.0.1', secret: SECRET }, () => [], { runs: () => false, execute: async () => null }, () => {});
  try {
    await eventually(async () => (await member.status()).redis.ok || undefined, 10_000, 'the member reaches Redis');
    const reload = () => member.rollout({ app: 'api', batch: 1, drain: false, expectRevision: null, settleMs: 0, hosts: null }, { timeoutMs: 10_000, balancer: null, aborted: () => false, progress: () => {} });
    // Another operator's rollout of api, from web-2.
    await client.set('herd:fleet:rollout:api', 'web-2:77 since 2026-12-02T12:00:00.000Z (x)', 'PX', 30_000);
    await assert.rejects(reload(), /a fleet reload of "api" is already running, from web-2:77 since 2026-12-02T12:00:00\.000Z; wait/);
    assert.equal(await client.get('herd:fleet:rollout:api'), 'web-2:77 since 2026-12-02T12:00:00.000Z (x)', 'the other one\'s lock is left alone');
    await client.del('herd:fleet:rollout:api');
    // No host runs api here: the rollout fails after taking the lock, and gives it back.
    await assert.rejects(reload(), /no host of the fleet runs an app "api"/);
    assert.equal(await client.exists('herd:fleet:rollout:api'), 0);
  } finally {
    await member.close();
    client.disconnect();
  }
});
