import { closest } from '../util/closest';

/**
 * `herd bench --expect 'p99<200ms,errors<0.1%'`: thresholds checked after the
 * run, k6-style (each listed with pass or fail; one failing makes the exit 1).
 * Parsing is strict: an unknown metric, operator or unit is a usage error that
 * names the expression, so a typo never passes silently.
 */

/** What a threshold can read of a finished run (see `summaryFor` in report.ts). */
export interface ExpectSummary {
  requests: number;
  errors: number;
  /** errors / requests, 0..1 (0 with no requests). */
  errorRate: number;
  rps: number;
  latency: { p50: number; p90: number; p99: number; p999: number; max: number; mean: number };
  restarts: number;
  /** The highest figure any worker showed in any one second of the run. */
  peak: { cpu: number; elu: number; loopP99: number };
}

type Kind = 'duration' | 'count' | 'rate' | 'percent' | 'fraction';

interface MetricDef {
  /** How values are written and compared: durations in ms, percentages in %, fractions 0..1. */
  kind: Kind;
  read: (s: ExpectSummary) => number;
  /** `errors<0.1%` compares the error rate, `errors<5` the count. */
  percent?: (s: ExpectSummary) => number;
  what: string;
}

const METRICS: Record<string, MetricDef> = {
  p50: { kind: 'duration', read: (s) => s.latency.p50, what: 'latency p50' },
  p90: { kind: 'duration', read: (s) => s.latency.p90, what: 'latency p90' },
  p99: { kind: 'duration', read: (s) => s.latency.p99, what: 'latency p99' },
  'p99.9': { kind: 'duration', read: (s) => s.latency.p999, what: 'latency p99.9' },
  max: { kind: 'duration', read: (s) => s.latency.max, what: 'latency max' },
  mean: { kind: 'duration', read: (s) => s.latency.mean, what: 'latency mean' },
  errors: { kind: 'count', read: (s) => s.errors, percent: (s) => s.errorRate * 100, what: 'errors' },
  requests: { kind: 'count', read: (s) => s.requests, what: 'requests' },
  rps: { kind: 'rate', read: (s) => s.rps, what: 'requests per second' },
  restarts: { kind: 'count', read: (s) => s.restarts, what: 'worker restarts' },
  cpu: { kind: 'percent', read: (s) => s.peak.cpu, what: 'peak worker CPU (% of one core)' },
  elu: { kind: 'fraction', read: (s) => s.peak.elu, what: 'peak worker event-loop utilisation' },
  loop_p99: { kind: 'duration', read: (s) => s.peak.loopP99, what: 'peak worker event-loop delay p99' },
};

/** The metric names, for help and docs. */
export const EXPECT_METRICS: readonly string[] = Object.keys(METRICS);

const ALIASES: Record<string, string> = { p999: 'p99.9', avg: 'mean', error: 'errors', reqs: 'requests', loop: 'loop_p99' };

type Op = '<' | '<=' | '>' | '>=';
const OPS: Record<Op, (a: number, b: number) => boolean> = {
  '<': (a, b) => a < b,
  '<=': (a, b) => a <= b,
  '>': (a, b) => a > b,
  '>=': (a, b) => a >= b,
};

export interface Threshold {
  /** As the user wrote it (trimmed). */
  text: string;
  metric: string;
  op: Op;
  /** In the metric's unit: ms, count, req/s, % (for `errors<N%` too), or a 0..1 fraction. */
  value: number;
  /** `errors<0.1%`: the error rate in %, not the count. */
  percent: boolean;
}

export interface ThresholdResult {
  expression: string;
  pass: boolean;
  /** The run's figure, in the threshold's unit. */
  actual: number;
  /** How it prints: `9.8ms`, `0.12%`, `1234/s`. */
  actualText: string;
}

/** An `--expect` problem: the CLI turns it into a usage error (exit 2). */
export class ExpectError extends Error {}

const DURATION_UNITS: Record<string, number> = { us: 0.001, 'µs': 0.001, ms: 1, s: 1000, m: 60_000 };

/** Parse a comma-separated list of thresholds. Throws ExpectError naming the bad one. */
export function parseExpect(text: string): Threshold[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.every((p) => p === '')) throw new ExpectError('--expect: no threshold given (e.g. --expect "p99<200ms,errors<0.1%")');
  return parts.map((part, i) => {
    if (part === '') throw new ExpectError(`--expect: threshold ${i + 1} is empty (a stray comma?)`);
    return parseOne(part);
  });
}

function parseOne(text: string): Threshold {
  const m = /^([A-Za-z_][\w.]*)\s*(<=|>=|<|>|==|=|!=)\s*(.*)$/.exec(text);
  if (!m) throw new ExpectError(`--expect "${text}": expected <metric><op><value>, e.g. p99<200ms (ops: < <= > >=)`);
  const rawName = (m[1] as string).toLowerCase();
  const rawOp = m[2] as string;
  const rawValue = (m[3] as string).trim();
  const metric = ALIASES[rawName] ?? rawName;
  const def = METRICS[metric];
  if (!def) {
    const near = closest(rawName, [...EXPECT_METRICS, ...Object.keys(ALIASES)]);
    throw new ExpectError(`--expect "${text}": unknown metric "${m[1]}"${near === null ? '' : ` (did you mean ${near}?)`}; metrics: ${EXPECT_METRICS.join(', ')}`);
  }
  if (!(rawOp in OPS)) throw new ExpectError(`--expect "${text}": operator "${rawOp}" is not supported; use <, <=, > or >=`);
  const v = /^(\d+(?:\.\d+)?|\.\d+)\s*([a-zµ%/]*)$/i.exec(rawValue);
  if (!v) throw new ExpectError(`--expect "${text}": "${rawValue}" is not a number${def.kind === 'duration' ? ' with an optional unit (us, ms, s)' : ''}`);
  const n = Number(v[1]);
  const unit = (v[2] as string).toLowerCase();
  const bad = (allowed: string) => new ExpectError(`--expect "${text}": ${metric} is ${def.what}; unit "${unit}" does not apply (${allowed})`);
  const op = rawOp as Op;
  switch (def.kind) {
    case 'duration': {
      const factor = unit === '' ? 1 : DURATION_UNITS[unit];
      if (factor === undefined) throw bad('give us, ms or s; a bare number is ms');
      return { text, metric, op, value: n * factor, percent: false };
    }
    case 'count':
      if (unit === '%' && def.percent) {
        if (n > 100) throw new ExpectError(`--expect "${text}": a rate above 100% cannot be reached`);
        return { text, metric, op, value: n, percent: true };
      }
      if (unit !== '') throw bad(def.percent ? 'give a count, or a rate of requests in %' : 'give a count');
      return { text, metric, op, value: n, percent: false };
    case 'rate':
      if (unit !== '' && unit !== '/s') throw bad('give requests per second, e.g. rps>1000');
      return { text, metric, op, value: n, percent: false };
    case 'percent':
      if (unit !== '' && unit !== '%') throw bad('give % of one core, e.g. cpu<80%');
      return { text, metric, op, value: n, percent: false };
    case 'fraction':
      if (unit === '%') return { text, metric, op, value: n / 100, percent: false };
      if (unit !== '') throw bad('give a fraction 0..1 or a %, e.g. elu<0.9 or elu<90%');
      if (n > 1) throw new ExpectError(`--expect "${text}": ${metric} is a fraction 0..1 (or write ${n}%)`);
      return { text, metric, op, value: n, percent: false };
  }
}

export function evaluate(thresholds: readonly Threshold[], summary: ExpectSummary): ThresholdResult[] {
  return thresholds.map((t) => {
    const def = METRICS[t.metric] as MetricDef;
    const actual = t.percent && def.percent ? def.percent(summary) : def.read(summary);
    return { expression: t.text, pass: OPS[t.op](actual, t.value), actual, actualText: formatActual(def.kind, t.percent, actual) };
  });
}

function formatActual(kind: Kind, percent: boolean, v: number): string {
  if (percent) return `${v < 0.01 && v > 0 ? v.toPrecision(2) : v.toFixed(2)}%`;
  switch (kind) {
    case 'duration': return v >= 1000 ? `${(v / 1000).toFixed(2)}s` : v >= 10 ? `${v.toFixed(0)}ms` : `${v.toFixed(2)}ms`;
    case 'rate': return `${v.toFixed(0)}/s`;
    case 'percent': return `${v.toFixed(0)}%`;
    case 'fraction': return v.toFixed(2);
    case 'count': return String(v);
  }
}
