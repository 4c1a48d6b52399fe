import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadTarget } from '../../src/config/load';
import type { AppSpec } from '../../src/config/types';
import { CoalescingWriter } from '../../src/daemon/state/coalescingWriter';
import { parseSavedApps, renderApps, renderSavedApps, type SavedApp } from '../../src/daemon/state/savedApps';
import { StateKeeper } from '../../src/daemon/state/stateKeeper';
import { HerdError } from '../../src/errors';
import { FIXTURES } from '../helpers';

/** A write whose completion the test controls. */
function gatedWrites() {
  const writes: string[] = [];
  const gates: (() => void)[] = [];
  const write = (content: string) => new Promise<void>((resolve) => {
    writes.push(content);
    gates.push(resolve);
  });
  const release = () => gates.splice(0).forEach((open) => open());
  return { writes, write, release };
}

const quiet = { onError: () => {}, onRecover: () => {} };

test('ten changes in a burst are one write of the last content', async () => {
  let value = 0;
  const { writes, write, release } = gatedWrites();
  const writer = new CoalescingWriter(() => `v${value}`, { write, debounceMs: 5, ...quiet });
  for (let i = 1; i <= 10; i++) {
    value = i;
    writer.changed();
  }
  const idle = writer.idle();
  release();
  await idle;
  assert.deepEqual(writes, ['v10']);
});

test('changes while a write is in flight: at most one more write, with the last content, after it', async () => {
  let value = 0;
  const { writes, write, release } = gatedWrites();
  const writer = new CoalescingWriter(() => `v${value}`, { write, debounceMs: 5, ...quiet });
  value = 1;
  writer.changed();
  // Wait until the first write is in flight, then change ten times behind it.
  while (writes.length === 0) await new Promise((r) => setTimeout(r, 1));
  for (let i = 2; i <= 11; i++) {
    value = i;
    writer.changed();
  }
  assert.equal(writes.length, 1, 'nothing starts while a write is in flight');
  release();
  while (writes.length < 2) await new Promise((r) => setTimeout(r, 1));
  release();
  await writer.idle();
  assert.deepEqual(writes, ['v1', 'v11']);
});

test('a change that renders what is on disk writes nothing', async () => {
  const { writes, write, release } = gatedWrites();
  const writer = new CoalescingWriter(() => 'same', { write, debounceMs: 1, ...quiet });
  writer.changed();
  const first = writer.idle();
  release();
  await first;
  writer.changed();
  writer.changed();
  await writer.idle();
  assert.deepEqual(writes, ['same']);
});

test('a failed write is reported once, retried on the next change, and its recovery said', async () => {
  let value = 0;
  let failing = true;
  const errors: string[] = [];
  let recovered = 0;
  const written: string[] = [];
  const writer = new CoalescingWriter(() => `v${value}`, {
    write: async (content) => {
      if (failing) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      written.push(content);
    },
    debounceMs: 1,
    onError: (err) => errors.push(err.message),
    onRecover: () => recovered++,
  });
  for (let i = 1; i <= 3; i++) {
    value = i;
    writer.changed();
    await writer.idle();
  }
  assert.deepEqual(errors, ['ENOSPC: no space left on device'], 'one line for a run of failures');
  assert.equal(writer.writes, 3, 'each change tried again');
  failing = false;
  value = 4;
  writer.changed();
  await writer.idle();
  assert.deepEqual(written, ['v4']);
  assert.equal(recovered, 1);
});

test('close renders at once, waits for the write in flight, then writes; later changes are ignored', async () => {
  let value = 1;
  const { writes, write, release } = gatedWrites();
  const writer = new CoalescingWriter(() => `v${value}`, { write, debounceMs: 1, ...quiet });
  writer.changed();
  while (writes.length === 0) await new Promise((r) => setTimeout(r, 1));
  value = 2;
  const closed = writer.close();
  // What happens after close (the apps being stopped) is not what the file keeps.
  value = 3;
  writer.changed();
  release();
  while (writes.length < 2) await new Promise((r) => setTimeout(r, 1));
  release();
  await closed;
  assert.deepEqual(writes, ['v1', 'v2']);
});

async function spec(name = 'api'): Promise<AppSpec> {
  const { specs } = await loadTarget(path.join(FIXTURES, 'hello.js'), { cwd: FIXTURES, env: { SECRET: 's3cret' }, envName: null, overrides: { name }, interpreter: process.execPath, cpus: 2 });
  return specs[0] as AppSpec;
}

async function dumpText(apps?: SavedApp[]): Promise<string> {
  const list = apps ?? [{ name: 'api', spec: await spec(), stopped: false, reason: 'started', createdAt: 1 }];
  return renderSavedApps({ version: 1, kind: 'herd-dump', herd: '0.1.0', written: '2026-12-02T00:00:00.000Z' }, renderApps(list));
}

function refusal(text: string, kind: 'herd-dump' | 'herd-state' = 'herd-dump'): HerdError {
  try {
    parseSavedApps(text, '/h/dump.herd.json', kind);
  } catch (err) {
    assert.ok(err instanceof HerdError);
    return err;
  }
  assert.fail('the file was accepted');
}

test('the reader takes back what was rendered', async () => {
  const text = await dumpText();
  const back = parseSavedApps(text, '/h/dump.herd.json', 'herd-dump');
  assert.equal(back.apps.length, 1);
  assert.deepEqual(back.apps[0]?.spec, JSON.parse(JSON.stringify(await spec())));
  assert.equal(back.apps[0]?.spec.env.SECRET, 's3cret');
});

test('the reader refuses a bad file whole, naming the file and the problem', async () => {
  const good = await dumpText();
  const cases: [string, string, RegExp][] = [
    ['empty', '', /it is empty \(0 bytes\)/],
    ['blank', ' \n', /it is empty/],
    ['truncated', good.slice(0, Math.floor(good.length / 2)), /it is truncated \(\d+ bytes, it ends before the JSON does\)/],
    ['not JSON', '{"version": 1, oops}', /it is not valid JSON/],
    ["PM2's dump", '[{"name":"api"}]', /JSON array.*PM2's dump\.pm2/],
    ['another version', good.replace('"version":1', '"version":2'), /"version" is 2 \(written by herd 0\.1\.0\); this herd reads version 1 only/],
    ['no version', good.replace('"version":1,', ''), /it has no "version" field/],
    ['another kind', good.replace('"herd-dump"', '"herd-state"'), /"kind" is "herd-state", expected "herd-dump"/],
    ['no apps', good.replace('"apps":', '"appz":'), /"apps" must be an array/],
    ['a bad spec', good.replace('"instances":1', '"instances":-1'), /apps\[0\]\.spec\.instances must be an integer >= 0/],
    ['a bad env', good.replace('"SECRET":"s3cret"', '"SECRET":5'), /apps\[0\]\.spec\.env\.SECRET must be a string/],
    ['no stopped flag', good.replace('"stopped":false,', ''), /apps\[0\]\.stopped must be true or false/],
  ];
  for (const [what, text, problem] of cases) {
    const err = refusal(text);
    assert.equal(err.code, 'HERD_ERR_DUMP_INVALID', what);
    assert.match(err.message, /^cannot resurrect from \/h\/dump\.herd\.json: /, what);
    assert.match(err.message, problem, what);
  }
  // Cut anywhere, even just after a closing brace, the file is called truncated.
  for (let end = 1; end < good.trimEnd().length; end++) {
    assert.match(refusal(good.slice(0, end)).message, /it is truncated \(\d+ bytes/, `cut at ${end}: ${JSON.stringify(good.slice(end - 10, end))}`);
  }
  const twice = await dumpText([
    { name: 'api', spec: await spec(), stopped: false, reason: 'started', createdAt: 1 },
    { name: 'api', spec: await spec(), stopped: true, reason: 'stopped by user', createdAt: 2 },
  ]);
  assert.match(refusal(twice).message, /apps\[1\]\.name "api" appears twice/);
  const state = refusal('{', 'herd-state');
  assert.equal(state.code, 'HERD_ERR_STATE_INVALID');
  assert.match(state.message, /herd's app list \/h\/dump\.herd\.json cannot be used: it is truncated/);
});

test('StateKeeper: writes state.json 0600 with no temp file left; sets aside a file it cannot read and says so', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-state-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'state.json');
  const apps: SavedApp[] = [{ name: 'api', spec: await spec(), stopped: false, reason: 'started', createdAt: 1 }];
  const notes: string[] = [];
  const keeper = new StateKeeper(file, () => apps, (line) => notes.push(line), 1);
  keeper.changed();
  await keeper.idle();
  assert.deepEqual(readdirSync(dir), [], 'nothing is written before the daemon owns HERD_HOME');
  keeper.begin();
  await keeper.idle();
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(dir), ['state.json']);
  const saved = parseSavedApps(readFileSync(file, 'utf8'), file, 'herd-state');
  assert.equal(saved.apps[0]?.name, 'api');
  assert.equal(saved.daemon?.pid, process.pid);
  assert.equal(saved.daemon?.stopped, null);
  await keeper.close('herd kill');
  assert.equal(parseSavedApps(readFileSync(file, 'utf8'), file, 'herd-state').daemon?.stopped?.by, 'herd kill');

  writeFileSync(file, '{"version":1,"kind":"herd-state","apps":[{"name":');
  const next = new StateKeeper(file, () => [], (line) => notes.push(line), 1);
  assert.deepEqual(next.load().apps, []);
  const aside = readdirSync(dir).filter((f) => f.startsWith('state.json.rejected-'));
  assert.equal(aside.length, 1, readdirSync(dir).join());
  assert.equal(readFileSync(path.join(dir, aside[0] as string), 'utf8'), '{"version":1,"kind":"herd-state","apps":[{"name":', 'kept as it was');
  assert.match(notes.join('\n'), new RegExp(`${file.replace(/[.]/g, '\\.')} cannot be used: it is truncated.*moved to .*state\\.json\\.rejected-`));
  assert.equal(next.notices().length, 1);
});
