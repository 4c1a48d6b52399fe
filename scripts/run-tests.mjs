#!/usr/bin/env node
// Runs the test files with node's test runner and tsx. The files are listed
// here, not globbed: the filters pick among them, and Node 20's runner (past
// its end of life, but still the default node of many machines that run the
// README's `npm test`) takes no glob patterns.
//   --only unit|integration|browser|fleet   pick one kind (integration tests start real
//                             processes; browser tests also drive Chromium)
//   --node PATH               run the tests with another node binary (CI runs the other supported versions this way)
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const pick = (flag) => {
  const i = argv.indexOf(flag);
  return i === -1 ? undefined : argv[i + 1];
};
const only = pick('--only');
const node = pick('--node') ?? process.execPath;
const filters = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));

const kinds = only ? [only] : ['unit', 'integration', 'browser', 'fleet'];
const tests = kinds.flatMap((kind) =>
  readdirSync(join('test', kind)).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', kind, f)))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));

if (tests.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(node, ['--import', 'tsx', '--test', '--test-concurrency=1', ...tests], {
  stdio: 'inherit',
  env: { ...process.env, HERD_TEST_NODE: node },
});
process.exit(result.status ?? 1);
