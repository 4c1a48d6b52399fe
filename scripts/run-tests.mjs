#!/usr/bin/env node
// Runs the test files with node's test runner and tsx. The files are listed
// here, not globbed: the filters pick among them, and Node 20's runner (past
// its end of life, but still the default node of many machines that run the
// README's `npm test`) takes no glob patterns.
//   --only unit|integration|browser|fleet   pick one kind, or several with commas (integration,browser);
//                             integration tests start real processes; browser tests also drive Chromium
//   --node PATH               run the tests with another node binary (CI runs the other supported versions this way)
// HERD_TESTS_STARTED=FILE     written when the tests begin, after npm test's build (CI's second lane waits for it)
// Unit files run two at a time: each is mostly the start-up of node and tsx
// (about a second) around a few milliseconds of tests, and none waits on
// wall-clock time it shares. The other kinds run one file at a time: they
// start real processes and time what those do, which a second file's load
// on a 2-core machine would skew.
import { spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

const argv = process.argv.slice(2);
const pick = (flag) => {
  const i = argv.indexOf(flag);
  return i === -1 ? undefined : argv[i + 1];
};
const only = pick('--only');
const node = pick('--node') ?? process.execPath;
const filters = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));

const kinds = only ? only.split(',') : ['unit', 'integration', 'browser', 'fleet'];
const tests = kinds.flatMap((kind) =>
  readdirSync(join('test', kind)).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join('test', kind, f)))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));

if (tests.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
// CI starts its other lane once the tests begin (the build before them is done): .ci/run.
if (process.env.HERD_TESTS_STARTED) writeFileSync(process.env.HERD_TESTS_STARTED, `${process.pid}\n`);
const unit = tests.filter((f) => f.startsWith(join('test', 'unit')));
const rest = tests.filter((f) => !unit.includes(f));
let status = 0;
for (const [files, concurrency] of [[unit, Math.min(2, availableParallelism())], [rest, 1]]) {
  if (files.length === 0) continue;
  const result = spawnSync(node, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], {
    stdio: 'inherit',
    env: { ...process.env, HERD_TEST_NODE: node },
  });
  if (result.status !== 0) status = result.status ?? 1;
}
process.exit(status);
