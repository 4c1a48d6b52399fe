import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCommand, checkReply, COMMAND_WINDOW_MS, entryFields, signed, type FleetCommand } from '../../src/fleet/commands';
import type { HostOutcome } from '../../src/fleet/commandSender';
import { rollout, sameRevision, type RolloutDeps, type RolloutOptions } from '../../src/fleet/rollout';
import type { FleetView } from '../../src/fleet/status';

const SECRET = 'unit-test-secret-0123456789';
const NOW = 1_800_000_000_000;
const command = (over: Partial<FleetCommand> = {}): FleetCommand => ({ id: '6f1c0a3e-1111-4222-8333-944455556666', sender: 'host1:10', host: 'host2', at: NOW, verb: 'reload', app: 'api', ...over });
const check = (fields: string[], seen: string[] = []) => checkCommand(entryFields(fields), {
  secret: SECRET, host: 'host2', now: NOW, seen: (id) => seen.includes(id), runs: (app) => app === 'api',
});

test('a signed command for this host, inside the window, of a known verb and app, is taken', () => {
  const r = check(signed(command(), SECRET));
  assert.equal(r.ok, true);
  assert.deepEqual(r.ok && r.value, command());
});

test('a command is refused for a bad signature, another host, a time outside the window, a replay, an unknown verb, an app not run here', () => {
  const reason = (fields: string[], seen: string[] = []) => {
    const r = check(fields, seen);
    assert.equal(r.ok, false);
    return r.ok ? '' : r.reason;
  };
  assert.match(reason(signed(command(), 'another-secret-0123456789')), /bad signature/);
  const [c, text, s] = signed(command(), SECRET);
  assert.match(reason([c, text.replace('"reload"', '"stop"'), s, signed(command(), SECRET)[3]]), /bad signature/, 'a changed text no longer checks');
  assert.match(reason(['c', 'not json', 's', 'ab']), /not a herd command/);
  assert.match(reason(signed(command({ host: 'host3' }), SECRET)), /for host "host3"/);
  assert.match(reason(signed(command({ at: NOW - COMMAND_WINDOW_MS - 1000 }), SECRET)), /-?31 s from this host's clock/);
  assert.match(reason(signed(command({ at: NOW + COMMAND_WINDOW_MS + 1000 }), SECRET)), /s from this host's clock/);
  assert.match(reason(signed(command(), SECRET), [command().id]), /replayed/);
  assert.match(reason(signed({ ...command(), verb: 'format-disk' as 'reload' }, SECRET)), /unknown verb "format-disk"/);
  assert.match(reason(signed(command({ app: 'billing' }), SECRET)), /runs no app "billing"/);
  assert.match(reason(signed(command({ verb: 'scale' }), SECRET)), /scale without a count/);
  // What a refused entry says of itself is shown quoted, never trusted.
  const r = check(signed(command({ app: 'billing' }), SECRET));
  assert.equal(!r.ok && r.what, '"reload" "billing" from "host1:10"');
});

test('a reply counts only when signed, for its command', () => {
  const id = command().id;
  const reply = { id, host: 'host2', at: NOW, kind: 'result' as const, ok: true };
  assert.deepEqual(checkReply(entryFields(signed(reply, SECRET)), SECRET, id), reply);
  assert.equal(checkReply(entryFields(signed(reply, 'another-secret-0123456789')), SECRET, id), null);
  assert.equal(checkReply(entryFields(signed({ ...reply, id: 'other-id-123' }, SECRET)), SECRET, id), null);
});

test('revisions match by prefix of a commit, never a dirty tree unless asked', () => {
  assert.ok(sameRevision('abc1234def56', 'abc1234'));
  assert.ok(sameRevision('abc1234def56', 'abc1234def5678901234567890123456789012ab'.replace(/^.{12}/, 'abc1234def56')));
  assert.ok(!sameRevision('abc1234def56-dirty', 'abc1234'));
  assert.ok(sameRevision('abc1234def56-dirty', 'abc1234-dirty'));
  assert.ok(sameRevision('sha256:0123456789ab', 'sha256:0123456789ab'));
  assert.ok(!sameRevision('sha256:0123456789ab', 'sha256:0123'));
});

/** A fleet of hosts for rollout(): each runs `api` at a revision; run() plays each verb. */
function fakeFleet(names: string[], behave: (host: string, verb: string) => Partial<HostOutcome> = () => ({})) {
  const revision = new Map(names.map((n) => [n, 'old']));
  const calls: string[] = [];
  const view = (): FleetView => ({
    redis: { url: 'redis://r', ok: true, error: null },
    self: names[0] as string,
    lb: null,
    hosts: names.map((name) => ({
      name, address: name, version: '0', online: true, problem: null, lastSeenS: 0, health: null,
      apps: [{ name: 'api', status: 'online', workers: 2, online: 2, revision: revision.get(name) as string, disk: 'new', rps: 10, p99: 5, errorRate: 0, cpu: 1, memory: 1, ports: [8080], healthPath: null }],
    })),
    apps: [],
  });
  const deps: RolloutDeps = {
    view: async () => view(),
    run: async (host, verb) => {
      calls.push(`${verb} ${host}`);
      const b = behave(host, verb);
      if (b.ok === false) return { host, ok: false, message: b.message ?? 'failed', code: b.code ?? 'HERD_ERR_RELOAD_FAILED', result: null, ms: 1 };
      if (verb === 'reload') revision.set(host, 'new');
      return { host, ok: true, message: null, code: null, result: { revision: verb === 'revision' ? b.result ?? 'new' : 'new' }, ms: 1 };
    },
    balancer: { drain: async (h) => void calls.push(`drain ${h}`), ready: async (h) => void calls.push(`ready ${h}`) },
    progress: () => undefined,
    aborted: () => false,
    sleep: async () => undefined,
  };
  return { deps, calls };
}

const options = (over: Partial<RolloutOptions> = {}): RolloutOptions => ({ app: 'api', batch: 1, drain: false, expectRevision: null, settleMs: 0, hosts: null, ...over });

test('a rollout goes host by host, drained and put back around each reload', async () => {
  const { deps, calls } = fakeFleet(['h1', 'h2', 'h3']);
  const r = await rollout(options({ drain: true }), deps);
  assert.equal(r.ok, true);
  assert.deepEqual(calls, ['drain h1', 'reload h1', 'ready h1', 'drain h2', 'reload h2', 'ready h2', 'drain h3', 'reload h3', 'ready h3']);
  assert.deepEqual(r.hosts.map((h) => [h.host, h.state, h.before, h.after]), [['h1', 'reloaded', 'old', 'new'], ['h2', 'reloaded', 'old', 'new'], ['h3', 'reloaded', 'old', 'new']]);
});

test('the first failing host stops the rollout: hosts after it are not reached; a failed reload (old workers serve) is put back', async () => {
  const { deps, calls } = fakeFleet(['h1', 'h2', 'h3'], (host, verb) => (host === 'h2' && verb === 'reload' ? { ok: false, message: 'reload of "api" aborted: worker exited with code 1' } : {}));
  const r = await rollout(options({ drain: true }), deps);
  assert.equal(r.ok, false);
  assert.match(r.stopped ?? '', /h2: reload of "api" aborted/);
  assert.deepEqual(calls, ['drain h1', 'reload h1', 'ready h1', 'drain h2', 'reload h2', 'ready h2']);
  assert.deepEqual(r.hosts.map((h) => h.state), ['reloaded', 'failed', 'not reached']);
  assert.equal(r.hosts[2]?.before, 'old');
});

test('--expect-revision refuses before any reload when a host has other code on disk', async () => {
  const { deps, calls } = fakeFleet(['h1', 'h2'], (host, verb) => (verb === 'revision' ? { result: host === 'h2' ? 'half' : 'abc1234def56' } : {}));
  const r = await rollout(options({ expectRevision: 'abc1234' }), deps);
  assert.equal(r.ok, false);
  assert.match(r.stopped ?? '', /1 host\(s\) do not have revision abc1234/);
  assert.deepEqual(calls, ['revision h1', 'revision h2']);
  assert.deepEqual(r.hosts.map((h) => h.state), ['not reached', 'refused']);
});

test('batches reload several hosts at once; Ctrl-C stops before the next batch; a host that went down stops it', async () => {
  const a = fakeFleet(['h1', 'h2', 'h3', 'h4']);
  assert.equal((await rollout(options({ batch: 2 }), a.deps)).ok, true);
  assert.deepEqual(a.calls, ['reload h1', 'reload h2', 'reload h3', 'reload h4']);
  const b = fakeFleet(['h1', 'h2', 'h3']);
  let stop = false;
  b.deps.aborted = () => stop;
  b.deps.progress = (line) => { if (line === 'h1: reloading') stop = true; };
  const stopped = await rollout(options(), b.deps);
  assert.equal(stopped.ok, false);
  assert.match(stopped.stopped ?? '', /Ctrl-C/);
  assert.deepEqual(b.calls, ['reload h1']);
  const c = fakeFleet(['h1', 'h2'], (host) => (host === 'h1' ? { ok: false, code: 'down', message: 'h1 went down' } : {}));
  const down = await rollout(options(), c.deps);
  assert.deepEqual(down.hosts.map((h) => h.state), ['down', 'not reached']);
});

test('settling fails a host whose 5xx rate is above the rest of the fleet\'s', async () => {
  const { deps } = fakeFleet(['h1', 'h2']);
  const base = deps.view;
  deps.view = async () => {
    const v = await base();
    const h1 = v.hosts[0]?.apps[0];
    if (h1 && h1.revision === 'new') h1.errorRate = 0.2;
    return v;
  };
  const r = await rollout(options({ settleMs: 3000, drain: true }), deps);
  assert.equal(r.ok, false);
  assert.match(r.stopped ?? '', /h1: its 5xx rate 20\.00% is above the rest of the fleet's 0\.00%; it is left drained/);
});
