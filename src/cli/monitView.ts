import type { MonitApp } from '../metrics/view';
import { formatBytes, formatDuration } from '../util/units';
import { formatAutoscaleValue, type AutoscaleView } from '../protocol/autoscale';
import { ms } from './metricsText';

/** What `herd monit` shows; render() turns it into the screen, with no I/O. */
export interface MonitState {
  apps: MonitApp[];
  selected: number;
  width: number;
  height: number;
  /** Set when the daemon could not be reached on the last poll. */
  error: string | null;
  now: number;
}

const BARS = '▁▂▃▄▅▆▇█';

/** One character per value, scaled between 0 and the largest value. */
export function sparkline(values: readonly number[], width: number): string {
  const tail = values.slice(-Math.max(0, width));
  const max = Math.max(0, ...tail);
  return tail.map((v) => (max <= 0 ? BARS[0] : BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1) + 0.5))])).join('');
}

const ESC = '\u001b[';
const bold = (s: string) => `${ESC}1m${s}${ESC}0m`;
const inverse = (s: string) => `${ESC}7m${s}${ESC}0m`;
const dim = (s: string) => `${ESC}90m${s}${ESC}0m`;
const STATUS_COLOR: Record<string, string> = { online: '32', errored: '31', held: '31', replacing: '33', stopped: '90', backoff: '33', draining: '33', reloading: '36', launching: '36', starting: '36', stopping: '33' };
const color = (status: string) => (STATUS_COLOR[status] ? `${ESC}${STATUS_COLOR[status]}m${status}${ESC}0m` : status);

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[A-Za-z]/g;

function visible(s: string): number {
  return [...s.replace(ANSI, '')].length;
}

/** Cut a line to `width` visible characters, keeping escape codes whole. */
export function fit(line: string, width: number): string {
  if (visible(line) <= width) return line;
  let out = '';
  let n = 0;
  for (let i = 0; i < line.length && n < width;) {
    ANSI.lastIndex = i;
    const m = ANSI.exec(line);
    if (m && m.index === i) {
      out += m[0];
      i += m[0].length;
      continue;
    }
    const ch = String.fromCodePoint(line.codePointAt(i) as number);
    out += ch;
    i += ch.length;
    n++;
  }
  return `${out}${ESC}0m`;
}

function pad(s: string, n: number): string {
  return s + ' '.repeat(Math.max(0, n - visible(s)));
}

function row(cells: [string, number][]): string {
  return cells.map(([s, n]) => pad(s, n)).join(' ').trimEnd();
}

/** The whole screen as a string: each line fits the width, no more lines than the height. */
export function renderMonit(state: MonitState): string {
  const { apps, width, height } = state;
  const lines: string[] = [];
  const clock = new Date(state.now).toISOString().slice(11, 19);
  lines.push(`${bold('herd monit')}  ${apps.length} app(s)  ${dim('↑/↓ j/k: app   q: quit')}  ${clock}`);
  if (state.error) lines.push(`${ESC}31m${state.error}${ESC}0m`);
  if (apps.length === 0) {
    lines.push('', 'no apps; start one with `herd start <script|config>`');
    return finish(lines, width, height);
  }
  const selected = Math.min(Math.max(0, state.selected), apps.length - 1);
  lines.push('', dim(row([['  app', 18], ['status', 10], ['workers', 8], ['rps', 9], ['p99', 9], ['5xx', 7], ['cpu', 6], ['memory', 9], ['loop p99', 9]])));
  apps.forEach((a, i) => {
    const online = a.workers.filter((w) => w.status === 'online').length;
    const text = row([
      [`${i === selected ? '>' : ' '} ${a.name}`, 18], [color(a.status), 10], [`${online}/${a.workers.length}`, 8],
      [a.metrics ? String(a.http.rps) : '-', 9], [a.metrics ? ms(a.http.latency.p99) : '-', 9], [a.metrics ? String(a.http.status['5xx']) : '-', 7],
      [`${a.cpu.toFixed(0)}%`, 6], [formatBytes(a.memory.rss), 9], [a.metrics ? ms(a.eventLoop.delay.p99) : '-', 9],
    ]);
    lines.push(i === selected ? inverse(text) : text);
  });

  const a = apps[selected] as MonitApp;
  const sparkWidth = Math.max(10, Math.min(60, width - 24));
  const last = (xs: number[]) => xs[xs.length - 1] ?? 0;
  lines.push('', `${bold(a.name)}  ${color(a.status)}  up ${formatDuration(a.uptimeMs)}  restarts ${a.restarts}  requests ${a.metrics ? a.http.requests : '-'}`);
  const spark = (label: string, values: number[], show: string) => lines.push(`  ${pad(label, 6)} ${sparkline(values, sparkWidth)} ${show}`);
  if (a.metrics) {
    spark('rps', a.series.rps, String(last(a.series.rps)));
    spark('p99', a.series.p99, ms(last(a.series.p99)));
    spark('5xx', a.series.errors, String(last(a.series.errors)));
  }
  spark('cpu', a.series.cpu, `${last(a.series.cpu).toFixed(0)}%`);
  spark('memory', a.series.memory, formatBytes(last(a.series.memory)));
  if (a.metrics) spark('loop', a.series.eventLoopP99, ms(last(a.series.eventLoopP99)));
  if (a.autoscale) lines.push(...autoscaleLines(a.autoscale, a.series.workers ?? [], sparkWidth));

  lines.push('', dim(row([['  worker', 8], ['pid', 8], ['status', 10], ['rps', 8], ['p99', 9], ['5xx', 6], ['cpu', 6], ['memory', 9], ['loop p99', 9], ['elu', 5]])));
  for (const w of a.workers) {
    lines.push(row([
      [`  ${w.id}`, 8], [w.pid === null ? '-' : String(w.pid), 8], [color(w.status), 10], [String(w.http.rps), 8], [ms(w.http.latency.p99), 9],
      [String(w.http.status['5xx']), 6], [`${w.cpu.toFixed(0)}%`, 6], [formatBytes(w.memory.rss), 9], [ms(w.eventLoop.delay.p99), 9],
      [`${(w.eventLoop.utilization * 100).toFixed(0)}%`, 5],
    ]));
  }
  if (a.metrics && a.routes.length > 0) {
    lines.push('', dim(row([['  slowest routes', 40], ['p99', 9], ['p50', 9], ['requests', 9], ['5xx', 6]])));
    const slowest = [...a.routes].sort((x, y) => y.latency.p99 - x.latency.p99).slice(0, 5);
    for (const r of slowest) {
      lines.push(row([[`  ${r.method} ${r.route}`, 40], [ms(r.latency.p99), 9], [ms(r.latency.p50), 9], [String(r.requests), 9], [String(r.errors), 6]]));
    }
  }
  return finish(lines, width, height);
}

function finish(lines: string[], width: number, height: number): string {
  return lines.slice(0, Math.max(1, height)).map((l) => fit(l, Math.max(1, width))).join('\n');
}

/** An autoscaled app: mode, range, count (with its recent steps as a sparkline), what holds it, the last step. */
function autoscaleLines(x: AutoscaleView, workers: number[], width: number): string[] {
  const reading = x.mode === 'auto' && x.value !== null ? `, ${x.metric} ${formatAutoscaleValue(x.metric, x.value)} (target ${formatAutoscaleValue(x.metric, x.target)})` : '';
  const lines = [`  ${pad('scale', 6)} ${sparkline(workers, width)} ${x.current} ${x.mode} ${x.min}..${x.max}${reading}`];
  if (x.held) lines.push(`         ${dim(x.held)}`);
  const step = x.decisions[x.decisions.length - 1];
  if (step) lines.push(`         ${dim(`last step ${new Date(step.time).toISOString().slice(11, 19)} ${step.from} → ${step.to}: ${step.reason}`)}`);
  return lines;
}
