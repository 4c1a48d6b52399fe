import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HerdError } from '../../src/errors';
import { loadTarget } from '../../src/config/load';
import { DEFAULTS } from '../../src/config/types';
import { configFiles } from '../configFiles';

const files = configFiles('wsdrain');

test('websocketDrain takes a duration and defaults to 2s', async () => {
  const set = await files.write({ apps: [{ script: 'server.js', websocketDrain: '5s' }] });
  assert.equal((await loadTarget(set, files.options())).specs[0]?.websocketDrain, 5000);
  const unset = await files.write({ apps: [{ script: 'server.js' }] });
  assert.equal((await loadTarget(unset, files.options())).specs[0]?.websocketDrain, DEFAULTS.websocketDrain);
});

test('a bad websocketDrain names the field and is a config error', async () => {
  const bad = await files.write({ apps: [{ script: 'server.js', websocketDrain: 'soon' }] });
  await assert.rejects(loadTarget(bad, files.options()), (err: unknown) =>
    err instanceof HerdError && /apps\[0\]\.websocketDrain/.test(err.message + (err.details ?? []).join('\n')));
});
