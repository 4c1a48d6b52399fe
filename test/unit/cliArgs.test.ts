import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseArgs } from '../../src/cli/args';
import { parseScale } from '../../src/daemon/supervisor';
import { HerdError } from '../../src/errors';

test('flags, aliases, values and app args after --', () => {
  const a = parseArgs(['start', 'app.js', '-i', 'max', '--name=api', '--json', '--', '--port', '80']);
  assert.equal(a.command, 'start');
  assert.deepEqual(a.positionals, ['app.js']);
  assert.deepEqual(a.flags, { instances: 'max', name: 'api', json: true });
  assert.deepEqual(a.rest, ['--port', '80']);
});

test('negative numbers are positionals (scale api -1)', () => {
  assert.deepEqual(parseArgs(['scale', 'api', '-1']).positionals, ['api', '-1']);
});

test('unknown options and missing values are usage errors', () => {
  assert.throws(() => parseArgs(['list', '--bogus']), (e: unknown) => e instanceof HerdError && e.code === 'HERD_ERR_USAGE');
  assert.throws(() => parseArgs(['start', 'x', '--name']), /needs a value/);
});

test('scale takes N, +N and -N and never goes below zero', () => {
  assert.equal(parseScale('4', 2), 4);
  assert.equal(parseScale('+2', 2), 4);
  assert.equal(parseScale('-1', 2), 1);
  assert.throws(() => parseScale('-3', 2), /below 0/);
  assert.throws(() => parseScale('many', 2), /expected N/);
});
