import { formatBytes } from '../util/units';
import { ms } from '../cli/metricsText';
import type { WorkerBench, WorkerSecond } from './engine';
import type { BenchResult } from './result';
import { escapeHtml as e, svgChart, type Chart } from './svgChart';

/**
 * The HTML report of a run: one self-contained file (inline CSS and SVG, no
 * script, no network), the run's JSON embedded for whoever wants the numbers.
 */
export function benchHtml(r: BenchResult): string {
  const xs = r.seconds.map((s) => s.t + 1);
  const charts: Chart[] = [
    { title: 'Throughput (requests completed per second)', unit: '/s', xs, series: [{ name: 'requests/s', values: r.seconds.map((s) => s.requests) }] },
    { title: `Latency${r.coordinatedOmissionCorrected ? ' (from the intended send time)' : ''}`, unit: 'ms', xs, series: [
      { name: 'p50', values: r.seconds.map((s) => s.p50) },
      { name: 'p90', values: r.seconds.map((s) => s.p90) },
      { name: 'p99', values: r.seconds.map((s) => s.p99) },
    ] },
    { title: 'Errors per second', unit: '/s', xs, series: [{ name: 'errors/s', values: r.seconds.map((s) => s.errors) }] },
    { title: 'Load generator CPU (% of one core)', unit: '%', xs, series: [{ name: 'herd bench', values: r.seconds.map((s) => s.generatorCpu) }] },
    workerChart(r.workers, 'Worker CPU (% of one core)', '%', (s) => s.cpu),
    workerChart(r.workers, 'Worker event-loop utilisation', '%', (s) => s.elu * 100),
    workerChart(r.workers, 'Worker event-loop delay p99', 'ms', (s) => s.loopDelayP99),
    workerChart(r.workers, 'Worker heap used', 'MB', (s) => s.heapUsed / 1024 / 1024),
  ];
  const when = new Date(r.startedAt);
  const title = `herd bench ${r.app} — ${when.toISOString().replace('T', ' ').slice(0, 19)} UTC`;
  const how = r.mode === 'open'
    ? `open loop at ${r.rate}/s over up to ${r.connections} connections; latency from the intended send time (corrected for coordinated omission)`
    : `closed loop, ${r.connections} connections (autocannon); latency from send (not corrected for coordinated omission: use --rate)`;
  const banner = r.valid
    ? ''
    : `<p class="invalid"><strong>Invalid run:</strong> ${e(r.invalidReason ?? '')}</p>`;
  const thresholds = r.thresholds.length === 0 ? '' : section('Thresholds', tableHtml(['', 'threshold', 'actual'],
    r.thresholds.map((t) => [t.pass ? '<span class="pass">pass</span>' : '<span class="fail">FAIL</span>', e(t.expression), e(t.actualText)]), false));
  const summary = tableHtml(['requests', 'req/s', 'errors', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean', 'restarts', 'generator CPU'], [[
    r.requests.toLocaleString('en-US'), Math.round(r.rps).toLocaleString('en-US'), `${r.errors.toLocaleString('en-US')} (${(r.errorRate * 100).toFixed(2)}%)`,
    ms(r.latency.p50), ms(r.latency.p90), ms(r.latency.p99), ms(r.latency.p999), ms(r.latency.max), ms(r.latency.mean), String(r.restarts),
    `${r.generator.cpuPercent.toFixed(0)}%`,
  ].map(e)], false);
  const status = tableHtml(['status', 'responses'], Object.entries(r.status).map(([k, v]) => [e(k), e(v.toLocaleString('en-US'))]));
  const errors = tableHtml(['error', 'count'], Object.entries(r.errorKinds).map(([k, v]) => [e(k), e(v.toLocaleString('en-US'))]));
  const workers = tableHtml(['worker', 'pid', 'CPU avg / max', 'ELU avg / max', 'loop p99 max', 'heap max', 'RSS max', 'GC', 'restarts'],
    r.workers.map((w) => [String(w.id), w.pids.join(', ') || '-', `${w.cpu.mean.toFixed(0)}% / ${w.cpu.max.toFixed(0)}%`,
      `${(w.elu.mean * 100).toFixed(0)}% / ${(w.elu.max * 100).toFixed(0)}%`, ms(w.loopDelayP99Max), formatBytes(w.heapUsedMax),
      formatBytes(w.rssMax), `${ms(w.gcPauseMs)} in ${w.gcCount}`, String(w.restarts)].map(e)));
  const data = JSON.stringify(r).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${e(title)}</title>
<style>${CSS}</style></head>
<body>
<h1>${e(title)}</h1>
<p class="how">GET <code>${e(r.url)}</code> for ${(r.durationMs / 1000).toFixed(r.interrupted ? 1 : 0)} s${r.interrupted ? ' (stopped by Ctrl-C)' : ''}, ${e(how)}.</p>
${banner}
${thresholds}
${section('Summary', summary)}
<div class="charts">${charts.map(svgChart).join('\n')}</div>
${section(`Workers${r.engineMetrics ? '' : ' (the app runs with metrics: false: CPU and memory only)'}`, workers)}
<div class="pair">${section('Status codes', status)}${section('Errors by kind', errors)}</div>
<script type="application/json" id="bench-data">${data}</script>
</body></html>
`;
}

function workerChart(workers: readonly WorkerBench[], title: string, unit: string, pick: (s: WorkerSecond) => number): Chart {
  const ts = [...new Set(workers.flatMap((w) => w.seconds.map((s) => s.t)))].sort((a, b) => a - b);
  return {
    title,
    unit,
    xs: ts,
    series: workers.map((w) => {
      const byT = new Map(w.seconds.map((s) => [s.t, pick(s)]));
      return { name: `worker ${w.id}`, values: ts.map((t) => byT.get(t) ?? 0) };
    }),
  };
}

function section(title: string, body: string): string {
  return `<section><h2>${e(title)}</h2>${body}</section>`;
}

/** Cells are HTML already (escaped by the caller). */
function tableHtml(header: string[], rows: string[][], emptyNote = true): string {
  if (rows.length === 0 && emptyNote) return '<p class="none">none</p>';
  return `<table><thead><tr>${header.map((h) => `<th>${e(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#111827;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:20px 0 8px}
.how{color:#4b5563;margin:0 0 12px}code{font-size:13px}
.invalid{background:#fef2f2;border:2px solid #dc2626;color:#991b1b;padding:10px 14px;border-radius:6px;font-size:15px}
table{border-collapse:collapse}th,td{padding:4px 12px 4px 0;text-align:left;border-bottom:1px solid #e5e7eb;white-space:nowrap}
th{font-weight:600;color:#374151}.pass{color:#15803d;font-weight:600}.fail{color:#b91c1c;font-weight:700}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:12px 20px;margin-top:16px}
.chart{margin:0;border:1px solid #e5e7eb;border-radius:6px;padding:8px}.chart figcaption{font-weight:600;margin-bottom:4px}
.chart svg{width:100%;height:auto;display:block}.grid{stroke:#e5e7eb}.ylabel,.xlabel{font-size:11px;fill:#6b7280}
.legend{font-size:12px;color:#374151}.key{margin-right:12px;white-space:nowrap}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px;vertical-align:-1px}
.pair{display:flex;gap:48px;flex-wrap:wrap}.none{color:#6b7280}
`;
