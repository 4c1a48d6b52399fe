import { parseDuration } from '../util/units';
import { ExpectError, parseExpect, type Threshold } from './expect';

/** What `herd bench <app>` was asked to do, checked whole before any load is sent. */
export interface BenchOptions {
  app: string;
  /** Request path, starting with `/`. */
  path: string;
  connections: number;
  durationMs: number;
  /** Requests per second for an open-loop run; null: closed loop (each connection sends as fast as it is answered). */
  rate: number | null;
  thresholds: Threshold[];
  /** Where the HTML report goes; null: the default name in the current directory. */
  report: string | null;
  /** One of the app's ports, when it listens on several. */
  port: number | null;
}

/** A bad flag value: the CLI turns it into a usage error (exit 2). */
export class BenchOptionError extends Error {}

export interface BenchFlags {
  path?: string | undefined;
  connections?: string | undefined;
  duration?: string | undefined;
  rate?: string | undefined;
  expect?: string | undefined;
  report?: string | undefined;
  port?: string | undefined;
}

export const DEFAULTS = { path: '/', connections: 50, durationMs: 30_000 } as const;
const MAX_CONNECTIONS = 10_000;
const MAX_DURATION_MS = 24 * 3_600_000;
const MAX_RATE = 1_000_000;

export function parseBenchOptions(app: string, flags: BenchFlags): BenchOptions {
  let thresholds: Threshold[] = [];
  if (flags.expect !== undefined) {
    try {
      thresholds = parseExpect(flags.expect);
    } catch (err) {
      if (err instanceof ExpectError) throw new BenchOptionError(err.message);
      throw err;
    }
  }
  const report = flags.report;
  if (report !== undefined && report.trim() === '') throw new BenchOptionError('--report takes a file name, e.g. --report bench.html');
  return {
    app,
    path: benchPath(flags.path),
    connections: flags.connections === undefined ? DEFAULTS.connections : connections(flags.connections),
    durationMs: flags.duration === undefined ? DEFAULTS.durationMs : benchDuration(flags.duration),
    rate: flags.rate === undefined ? null : parseRate(flags.rate),
    thresholds,
    report: report ?? null,
    port: flags.port === undefined ? null : port(flags.port),
  };
}

function benchPath(value: string | undefined): string {
  if (value === undefined) return DEFAULTS.path;
  if (!value.startsWith('/')) throw new BenchOptionError(`--path takes a request path starting with /, e.g. --path /users/1; got "${value}"`);
  if (/[\s\u0000-\u001f]/.test(value)) throw new BenchOptionError(`--path "${value}": a request path cannot hold spaces or control characters (encode them, e.g. %20)`);
  return value;
}

function connections(value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!(n >= 1 && n <= MAX_CONNECTIONS)) throw new BenchOptionError(`-c (--connections) takes a whole number from 1 to ${MAX_CONNECTIONS}; got "${value}"`);
  return n;
}

/**
 * `-d 30s`, `-d 2m`, `-d 500ms`; a bare number is seconds, as for wrk and
 * autocannon (a config file's bare number is ms, but nobody benches for 30 ms).
 */
export function benchDuration(value: string): number {
  const ms = /^\s*\d+(?:\.\d+)?\s*$/.test(value) ? Math.round(Number(value) * 1000) : parseDuration(value);
  if (ms === null || !(ms >= 1000 && ms <= MAX_DURATION_MS)) {
    throw new BenchOptionError(`-d (--duration) takes a duration from 1s to 24h such as 30s, 2m or 10 (seconds); got "${value}"`);
  }
  return ms;
}

/** `--rate 500`, `--rate 500/s`, `--rate 6000/m`: requests per second, > 0. */
export function parseRate(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m|min))?\s*$/i.exec(value);
  const perSecond = m ? Number(m[1]) / ((m[2] ?? 's').toLowerCase() === 's' ? 1 : 60) : NaN;
  if (!(perSecond > 0 && perSecond <= MAX_RATE)) throw new BenchOptionError(`--rate takes requests per second (> 0, at most ${MAX_RATE}), e.g. 500 or 500/s or 6000/m; got "${value}"`);
  return perSecond;
}

function port(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new BenchOptionError(`--port takes a port number (1-65535); got "${value}"`);
  return n;
}

/** The default report file: `herd-bench-<app>-<YYYYMMDD-HHMMSS>.html` (local time), app name made file-safe. */
export function defaultReportName(app: string, at: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`;
  return `herd-bench-${app.replace(/[^\w.-]+/g, '_')}-${stamp}.html`;
}
