import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { EngineRecorder } from '../../src/bench/engine';
import { evaluate, parseExpect } from '../../src/bench/expect';
import { benchHtml } from '../../src/bench/html';
import { BenchRecorder } from '../../src/bench/recorder';
import { expectSummary, totalsOf, type BenchResult } from '../../src/bench/result';
import type { AppMetricsView } from '../../src/metrics/view';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM) && !process.env.CI;

/** Five seconds of a two-worker run, as herd bench records it. */
function sampleRun(): BenchResult {
  const rec = new BenchRecorder(0, 5000);
  for (let i = 0; i < 500; i++) rec.response(i * 10, i % 50 === 0 ? 503 : 200, 2 + (i % 7));
  rec.error(4500, 'ECONNRESET');
  const engine = new EngineRecorder();
  for (let t = 0; t <= 5; t++) {
    const worker = (id: number) => ({
      id, pid: 100 + id, status: 'online', restarts: 0, uptimeMs: 1000, cpu: 20 + t * 5 + id,
      memory: { rss: 60e6, heapUsed: (6 + t) * 1e6, heapTotal: 20e6 },
      eventLoop: { delay: { p50: 1, p99: 5 + t, max: 9 }, utilization: 0.1 * t },
      gc: { pauseMs: t * 2, count: t }, activeHandles: 2,
    });
    engine.add(t, { metrics: true, restarts: 0, workers: [worker(0), worker(1)] } as unknown as AppMetricsView);
  }
  const totals = totalsOf(rec, 5000);
  const workers = engine.workersSummary();
  const thresholds = evaluate(parseExpect('p99<100ms,errors<0.1%'), expectSummary({ ...totals, restarts: 0, workers }));
  return {
    app: 'api', url: 'http://127.0.0.1:3000/', method: 'GET', mode: 'open', connections: 10, durationMs: 5000, interrupted: false, rate: 100,
    coordinatedOmissionCorrected: true, startedAt: new Date().toISOString(), valid: false,
    invalidReason: 'the load generator used 95% of a core', generator: { cpuPercent: 95, sendLagP99Ms: 1, sendLagMaxMs: 3 },
    ...totals, restarts: 0, engineMetrics: true, engineMissedSeconds: 0,
    seconds: rec.perSecond(5).map((s) => ({ ...s, generatorCpu: 95 })), workers, thresholds, passed: false, report: null,
  };
}

test('the bench HTML report in Chromium: every chart drawn from the data, nothing fetched, no console errors', { skip: missing && `no Chromium at ${CHROMIUM} (apt-get install chromium); CI installs it` }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-bench-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'report.html');
  writeFileSync(file, benchHtml(sampleRun()));
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  const fetched: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text()); });
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('request', (r) => { if (r.url() !== pathToFileURL(file).href) fetched.push(r.url()); });
  await page.goto(pathToFileURL(file).href);

  const charts = await page.$$eval('figure.chart', (figs) => figs.map((f) => {
    const svg = f.querySelector('svg');
    const box = svg?.getBoundingClientRect() ?? { width: 0, height: 0 };
    return {
      title: f.querySelector('figcaption')?.textContent ?? '',
      width: box.width,
      height: box.height,
      lines: [...(svg?.querySelectorAll('polyline') ?? [])].map((p) => p.getAttribute('points')?.trim().split(/\s+/).length ?? 0),
    };
  }));
  assert.deepEqual(charts.map((c) => c.title), [
    'Throughput (requests completed per second)', 'Latency (from the intended send time)', 'Errors per second', 'Load generator CPU (% of one core)',
    'Worker CPU (% of one core)', 'Worker event-loop utilisation', 'Worker event-loop delay p99', 'Worker heap used',
  ]);
  for (const c of charts) {
    assert.ok(c.width > 300 && c.height > 100, `${c.title} is drawn: ${c.width}x${c.height}`);
    assert.ok(c.lines.length >= 1 && c.lines.every((n) => n === 5), `${c.title}: a point per second in every line (${c.lines.join(',')})`);
  }
  assert.deepEqual(charts[1]?.lines.length, 3, 'p50, p90, p99');
  assert.deepEqual(charts[4]?.lines.length, 2, 'a line per worker');
  assert.match((await page.textContent('.invalid')) ?? '', /Invalid run: the load generator used 95% of a core/);
  assert.deepEqual(await page.$$eval('body > section:first-of-type tbody tr', (rows) => rows.map((r) => r.textContent)), ['passp99<100ms8.00ms', 'FAILerrors<0.1%2.20%']);
  assert.equal(await page.$$eval('h2', (hs) => hs.filter((h) => h.textContent?.startsWith('Workers')).length), 1);
  assert.deepEqual(fetched, []);
  assert.deepEqual(problems, []);
});
