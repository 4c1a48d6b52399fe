import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ROOT } from '../helpers';

const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const pkg = JSON.parse(read('package.json')) as Record<string, Record<string, string> | string>;
const lock = JSON.parse(read('package-lock.json')) as { name: string; packages: Record<string, Record<string, unknown>> };

test('the lockfile root matches package.json, so npm install in a fresh clone leaves it unchanged', () => {
  const root = lock.packages[''] as Record<string, unknown>;
  assert.equal(lock.name, pkg.name);
  assert.equal(root.name, pkg.name);
  assert.deepEqual(root.dependencies ?? {}, pkg.dependencies ?? {});
  assert.deepEqual(root.devDependencies ?? {}, pkg.devDependencies ?? {});
  // A package only devDependencies reach is marked dev in the lock; one a dependency reaches is not.
  for (const name of Object.keys((pkg.dependencies ?? {}) as Record<string, string>)) {
    assert.notEqual(lock.packages[`node_modules/${name}`]?.dev, true, `${name} is a dependency but dev in the lock`);
  }
  for (const name of Object.keys((pkg.devDependencies ?? {}) as Record<string, string>)) {
    assert.equal(lock.packages[`node_modules/${name}`]?.dev, true, `${name} is a devDependency but not dev in the lock`);
  }
});

test('the npm name is herd-runtime (herd belongs to someone else) and the docs import that name', () => {
  assert.equal(pkg.name, 'herd-runtime');
  assert.deepEqual(pkg.bin, { herd: 'dist/cli/main.js' });
  for (const file of ['README.md', 'docs/metrics.md', 'docs/config.md']) {
    const text = read(file);
    assert.doesNotMatch(text, /require\('herd'\)|from 'herd'|from 'herd\/client'|npx herd /, file);
  }
  assert.match(read('README.md'), /require\('herd-runtime'\)/);
  assert.match(read('README.md'), /from 'herd-runtime\/client'/);
});
