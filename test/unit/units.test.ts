import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration, parseSize } from '../../src/util/units';

test('durations accept numbers and unit strings', () => {
  assert.equal(parseDuration(250), 250);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1.5m'), 90_000);
  assert.equal(parseDuration('2h'), 7_200_000);
  assert.equal(parseDuration('soon'), null);
  assert.equal(parseDuration(-1), null);
});

test('sizes accept numbers and unit strings', () => {
  assert.equal(parseSize(1024), 1024);
  assert.equal(parseSize('512MB'), 512 * 1024 * 1024);
  assert.equal(parseSize('200M'), 200 * 1024 * 1024);
  assert.equal(parseSize('1G'), 1024 ** 3);
  assert.equal(parseSize('300K'), 300 * 1024);
  assert.equal(parseSize('big'), null);
});

test('durations format for people', () => {
  assert.equal(formatDuration(900), '900ms');
  assert.equal(formatDuration(61_000), '1m');
});
