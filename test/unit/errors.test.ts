import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { ERROR_CODES, HerdError } from '../../src/errors';

test('every error code is documented in docs/errors.md, and nothing else is', () => {
  const doc = readFileSync(path.join(__dirname, '..', '..', 'docs', 'errors.md'), 'utf8');
  const documented = new Set(doc.match(/HERD_ERR_[A-Z_]+/g) ?? []);
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
});

test('messages fill their templates and survive the wire', () => {
  const err = new HerdError('HERD_ERR_APP_NOT_FOUND', { name: 'api' });
  assert.equal(err.message, 'no app named "api"');
  const back = HerdError.fromData(JSON.parse(JSON.stringify(err.toData())));
  assert.equal(back.code, 'HERD_ERR_APP_NOT_FOUND');
  assert.equal(back.message, err.message);
});

/** Every .ts file under `dir`. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

test('every code in the registry is raised somewhere in src/: a documented error that never happens tells users nothing', () => {
  const src = path.join(__dirname, '..', '..', 'src');
  const raised = new Set<string>();
  for (const file of sourceFiles(src)) {
    if (file === path.join(src, 'errors.ts')) continue;
    const text = readFileSync(file, 'utf8');
    // `new HerdError('CODE', ...)`, or error data built by hand (`{ code: 'CODE', message }`).
    for (const m of text.matchAll(/(?:new HerdError\(\s*|\bcode:\s*)'(HERD_ERR_[A-Z_]+)'/g)) raised.add(m[1] as string);
  }
  assert.deepEqual(Object.keys(ERROR_CODES).filter((code) => !raised.has(code)), []);
});
