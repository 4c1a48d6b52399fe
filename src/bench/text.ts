import { formatBytes } from '../util/units';
import { table } from '../cli/format';
import { ms } from '../cli/metricsText';
import type { BenchResult } from './result';

const n = (v: number) => v.toLocaleString('en-US');
const pct = (v: number) => `${(v * 100).toFixed(v > 0 && v < 0.001 ? 3 : 2)}%`;

/** The run as `herd bench` prints it without --json. */
export function benchText(r: BenchResult): string {
  const how = r.mode === 'open'
    ? `open loop at ${n(r.rate ?? 0)}/s over up to ${r.connections} connections, latency from the intended send time (coordinated omission corrected)`
    : `closed loop, ${r.connections} connections (autocannon), latency from send`;
  const lines = [
    `herd bench ${r.app}: GET ${r.url} for ${(r.durationMs / 1000).toFixed(r.interrupted ? 1 : 0)}s, ${how}`,
    '',
    `  requests   ${n(r.requests)}  (${n(Math.round(r.rps))}/s)`,
    `  errors     ${n(r.errors)} (${pct(r.errorRate)})${Object.keys(r.errorKinds).length > 0 ? `: ${Object.entries(r.errorKinds).map(([k, v]) => `${k} ${n(v)}`).join(', ')}` : ''}`,
    `  latency    p50 ${ms(r.latency.p50)}  p90 ${ms(r.latency.p90)}  p99 ${ms(r.latency.p99)}  p99.9 ${ms(r.latency.p999)}  max ${ms(r.latency.max)}  mean ${ms(r.latency.mean)}`,
    `  status     ${Object.entries(r.status).map(([k, v]) => `${k} ${n(v)}`).join('  ') || 'no responses'}`,
    `  restarts   ${r.restarts}`,
    `  generator  cpu ${r.generator.cpuPercent.toFixed(0)}% of one core${r.generator.sendLagP99Ms !== null ? `, sent late by its own schedule: p99 ${ms(r.generator.sendLagP99Ms)}, max ${ms(r.generator.sendLagMaxMs ?? 0)}` : ''}`,
  ];
  if (r.interrupted) lines.push('', `  stopped by Ctrl-C after ${(r.durationMs / 1000).toFixed(1)}s: the figures are of that window`);
  if (!r.valid) lines.push('', `  !!! INVALID RUN: ${r.invalidReason ?? ''}`);
  lines.push('');
  if (r.workers.length === 0) lines.push('engine: no worker figures were read');
  else {
    if (!r.engineMetrics) lines.push('engine (the app runs with metrics: false: CPU and memory only):');
    lines.push(table(['worker', 'pid', 'cpu avg/max', 'elu avg/max', 'loop p99 max', 'heap max', 'rss max', 'gc', 'restarts'],
      r.workers.map((w) => [
        String(w.id),
        w.pids.join(',') || '-',
        `${w.cpu.mean.toFixed(0)}% / ${w.cpu.max.toFixed(0)}%`,
        `${(w.elu.mean * 100).toFixed(0)}% / ${(w.elu.max * 100).toFixed(0)}%`,
        ms(w.loopDelayP99Max),
        formatBytes(w.heapUsedMax),
        formatBytes(w.rssMax),
        `${ms(w.gcPauseMs)} in ${w.gcCount}`,
        String(w.restarts),
      ])));
  }
  if (r.engineMissedSeconds > 0) lines.push(`(the daemon did not answer for ${r.engineMissedSeconds} second(s): those seconds have no engine figures)`);
  if (r.thresholds.length > 0) {
    lines.push('', 'thresholds');
    for (const t of r.thresholds) lines.push(`  ${t.pass ? 'pass' : 'FAIL'}  ${t.expression}  (${t.actualText})`);
  }
  if (r.report !== null) lines.push('', `report: ${r.report}`);
  return lines.join('\n');
}
