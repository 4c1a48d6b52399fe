import type { AppMetricsView, LatencyView } from '../metrics/view';
import { formatBytes, formatDuration, formatMs } from '../util/units';
import { paint, table } from './format';
import { jobsLine } from './queueText';

const ms = formatMs;
export { formatMs as ms };

function latency(l: LatencyView): string {
  return `p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  max ${ms(l.max)}`;
}

/** `herd metrics <name>` without --json. */
export function metricsText(v: AppMetricsView): string {
  const title = v.worker === null ? v.name : `${v.name} worker ${v.worker}`;
  const lines = [
    `${title}: ${paint(v.status)}, up ${formatDuration(v.uptimeMs)}, ${v.restarts} restart(s)`,
    `  cpu ${v.cpu.toFixed(0)}%  rss ${formatBytes(v.memory.rss)}  heap ${formatBytes(v.memory.heapUsed)} / ${formatBytes(v.memory.heapTotal)}`,
  ];
  if (v.jobs) lines.push(jobsLine(v.jobs));
  if (!v.metrics) {
    lines.push('  request metrics are off for this app (metrics: false)');
    return lines.join('\n');
  }
  const s = v.http.status;
  lines.push(
    `  requests ${v.http.requests} (${v.http.rps}/s)  in flight ${v.http.inFlight}  connections ${v.http.connections}${
      v.http.queue ? `  queued: accept ${v.http.queue.accept}  unread ${v.http.queue.unread}` : ''}`,
    `  latency ${latency(v.http.latency)}`,
    `  service ${latency(v.http.serviceTime)}`,
    `  status 2xx ${s['2xx']}  3xx ${s['3xx']}  4xx ${s['4xx']}  5xx ${s['5xx']}${s.aborted > 0 ? `  aborted ${s.aborted}` : ''}`,
    `  event loop delay p50 ${ms(v.eventLoop.delay.p50)}  p99 ${ms(v.eventLoop.delay.p99)}  max ${ms(v.eventLoop.delay.max)}  utilisation ${(v.eventLoop.utilization * 100).toFixed(0)}%`,
    `  gc ${ms(v.gc.pauseMs)} in ${v.gc.count} pauses  active handles ${v.activeHandles}`,
  );
  if (v.routes.length > 0) {
    lines.push('', table(['method', 'route', 'requests', '5xx', 'p50', 'p99', 'max', 'service p99'],
      v.routes.slice(0, 20).map((r) => [r.method, r.route, String(r.requests), String(r.errors), ms(r.latency.p50), ms(r.latency.p99), ms(r.latency.max),
        ms(r.serviceTime?.p99 ?? 0)])));
    if (v.routes.length > 20) lines.push(`(${v.routes.length - 20} more routes: --json shows all)`);
  }
  const c = v.custom;
  const custom = [
    ...Object.entries(c.counters).map(([n, x]) => `  ${n} ${x} (counter)`),
    ...Object.entries(c.gauges).map(([n, x]) => `  ${n} ${x} (gauge)`),
    ...Object.entries(c.histograms).map(([n, h]) => `  ${n} n=${h.count} p50 ${h.p50} p99 ${h.p99} max ${h.max} (histogram)`),
  ];
  if (custom.length > 0) lines.push('', 'custom:', ...custom);
  if (v.workers.length > 0) {
    lines.push('', table(['worker', 'pid', 'status', 'requests', 'rps', 'p99', 'cpu', 'rss', 'loop p99'],
      v.workers.map((w) => [String(w.id), w.pid === null ? '-' : String(w.pid), paint(w.status), String(w.http.requests), String(w.http.rps),
        ms(w.http.latency.p99), `${w.cpu.toFixed(0)}%`, formatBytes(w.memory.rss), ms(w.eventLoop.delay.p99)])));
  }
  return lines.join('\n');
}

