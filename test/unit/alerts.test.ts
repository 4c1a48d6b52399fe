import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlertRule } from '../../src/config/types';
import { AlertManager, describeRule, type AlertSource } from '../../src/alerts/alerts';
import { parseThreshold, type AlertMetric } from '../../src/alerts/alertMetrics';

const rule: AlertRule = { app: 'api', metric: 'http.latency.p99', above: 100, below: null, for: 2000, window: 10_000 };

function source(name: string, value: () => number | null): AlertSource {
  return { name, stopped: false, alertValue: (_m: AlertMetric) => value() };
}

test('a rule fires once its condition held for `for`, and resolves as soon as it stops holding', () => {
  const log: string[] = [];
  const alerts = new AlertManager((l) => log.push(l));
  alerts.configure({ webhook: null, rules: [rule] });
  let v: number | null = 150;
  const apps = [source('api', () => v), source('other', () => 999)];
  alerts.tick(apps, 0);
  alerts.tick(apps, 1000);
  assert.deepEqual(alerts.view().active, []);
  alerts.tick(apps, 2000);
  assert.equal(alerts.view().active.length, 1);
  alerts.tick(apps, 3000); // still firing: no second event
  v = 50;
  alerts.tick(apps, 4000);
  assert.deepEqual(alerts.view().events.map((e) => [e.status, e.app, e.value, e.delivery]), [['firing', 'api', 150, 'none'], ['resolved', 'api', 50, 'none']]);
  assert.equal(log.length, 2);
  // A dip resets the `for` clock.
  v = 150;
  alerts.tick(apps, 5000);
  v = 50;
  alerts.tick(apps, 6000);
  v = 150;
  alerts.tick(apps, 7000);
  alerts.tick(apps, 8000);
  assert.equal(alerts.view().events.length, 2);
});

test('no data (no request in the window) never fires and resolves a firing alert', () => {
  const alerts = new AlertManager(() => {});
  alerts.configure({ webhook: null, rules: [{ ...rule, for: 0 }] });
  let v: number | null = null;
  const apps = [source('api', () => v)];
  alerts.tick(apps, 0);
  assert.equal(alerts.view().events.length, 0);
  v = 500;
  alerts.tick(apps, 1000);
  v = null;
  alerts.tick(apps, 2000);
  assert.deepEqual(alerts.view().events.map((e) => e.status), ['firing', 'resolved']);
});

test('thresholds read in the metric\'s unit', () => {
  assert.equal(parseThreshold('http.latency.p99', '100ms'), 100);
  assert.equal(parseThreshold('http.latency.p99', '1s'), 1000);
  assert.equal(parseThreshold('http.errorRate', '1%'), 0.01);
  assert.equal(parseThreshold('http.errorRate', 0.05), 0.05);
  assert.equal(parseThreshold('http.errorRate', 5), null);
  assert.equal(parseThreshold('cpu', '80%'), 80);
  assert.equal(parseThreshold('memory.rss', '512MB'), 512 * 1024 * 1024);
  assert.equal(parseThreshold('http.rps', 'many'), null);
  assert.equal(describeRule({ ...rule, for: 30_000 }), 'api http.latency.p99 above 100ms for 30s');
});
