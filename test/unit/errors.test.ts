import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
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
