import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseArgs } from '../../src/cli/args';
import { defaultName } from '../../src/cli/heap';

test('--out takes a file for herd heap and stays a stream switch for herd logs', () => {
  assert.deepEqual(parseArgs(['heap', 'api', '--out', 'a.heapsnapshot', '--diff', '60s']).flags, { out: 'a.heapsnapshot', diff: '60s' });
  assert.deepEqual(parseArgs(['heap', 'api', '--out=b.heapsnapshot']).flags, { out: 'b.heapsnapshot' });
  const logs = parseArgs(['logs', 'api', '--out', '--lines', '5']);
  assert.deepEqual(logs.flags, { out: true, lines: '5' });
  assert.deepEqual(logs.positionals, ['api']);
});

test('the default file name has the app, the worker and the local time', () => {
  const at = new Date(2026, 11, 2, 9, 5, 7).getTime();
  assert.equal(defaultName({ app: 'api', worker: 1 }, at), 'api-w1-20261202-090507.heapsnapshot');
  assert.equal(defaultName({ app: 'my app/x', worker: 0 }, at), 'my_app_x-w0-20261202-090507.heapsnapshot');
});
