/**
 * The availability report of a chaos run: pure arithmetic over what the run
 * recorded, the JSON `herd chaos --json` prints, and its text form.
 */
import type { ChaosOptions, ChaosSignal, KillKind } from './options';

export interface KillRecord {
  /** ms since the run started (the baseline included). */
  at: number;
  /** ISO time of the kill. */
  time: string;
  kind: 'worker' | 'daemon';
  signal: ChaosSignal;
  pid: number;
  /** The worker id (slot) for a worker, null for the daemon. */
  worker: number | null;
  /** Until a new worker of that id was online (a daemon: until the control socket answered with every app online again); null: never within the run. */
  recoveredMs: number | null;
  /** Probe failures from this kill until the next one (or the end): what it cost. Null without probe traffic. */
  failed: number | null;
}

/** What the probe measured in one phase, as plain numbers. */
export interface PhaseFigures {
  requests: number;
  ok: number;
  failed: number;
  errors: Record<string, number>;
  seconds: number;
  /** Latency of the successful requests, ms; null when none succeeded. */
  p50: number | null;
  p99: number | null;
  max: number | null;
}

export interface ErroredApp {
  app: string;
  /** ms since the run started, when it was first seen errored. */
  at: number;
  reason: string;
}

export interface RunRecord {
  options: ChaosOptions;
  url: string | null;
  startedAt: string;
  durationMs: number;
  /** Ctrl-C ended it early. */
  interrupted: boolean;
  kills: KillRecord[];
  /** Kill times at which there was nothing to kill (every worker down, the daemon not back yet). */
  skipped: number;
  before: PhaseFigures | null;
  during: PhaseFigures | null;
  errored: ErroredApp[];
}

export interface ChaosReport {
  app: string;
  seed: number;
  kill: KillKind;
  signal: ChaosSignal;
  everyMs: number;
  forMs: number;
  connections: number | null;
  url: string | null;
  startedAt: string;
  durationMs: number;
  interrupted: boolean;
  kills: KillRecord[];
  killsByKind: { worker: number; daemon: number };
  skipped: number;
  recovery: { p50: number | null; worst: number | null; unrecovered: number };
  /** Probe requests while kills went on (the baseline not included); null with --no-probe. */
  requests: number | null;
  failed: number | null;
  /** Percent of those requests that succeeded; null with --no-probe or no request. */
  availability: number | null;
  errors: Record<string, number> | null;
  lostPerKill: { mean: number | null; worst: number | null } | null;
  before: PhaseFigures | null;
  during: PhaseFigures | null;
  errored: ErroredApp[];
  expect: number | null;
  /** Why the run failed (exit 1); empty when it passed. */
  problems: string[];
  ok: boolean;
}

/** The value at percentile p (0-100) of xs, nearest rank; null for none. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))] as number;
}

/** Percent of requests that succeeded, null when there was none. */
export function availabilityOf(ok: number, requests: number): number | null {
  return requests === 0 ? null : (100 * ok) / requests;
}

export function buildReport(run: RunRecord): ChaosReport {
  const o = run.options;
  const recovered = run.kills.map((k) => k.recoveredMs).filter((ms): ms is number => ms !== null);
  const unrecovered = run.kills.length - recovered.length;
  const during = run.during;
  const availability = during ? availabilityOf(during.ok, during.requests) : null;
  const lost = run.kills.map((k) => k.failed).filter((n): n is number => n !== null);
  const problems: string[] = [];
  if (o.expect !== null) {
    if (availability === null) problems.push(`no probe request was sent while kills went on: availability unknown (expected ${o.expect}%)`);
    else if (availability < o.expect) problems.push(`availability ${formatPercent(availability)} is below the expected ${o.expect}%`);
  }
  if (unrecovered > 0) problems.push(`${unrecovered} kill(s) not recovered by the end of the run`);
  for (const e of run.errored) problems.push(`${e.app} went errored: ${e.reason}`);
  return {
    app: o.app,
    seed: o.seed,
    kill: o.kill,
    signal: o.signal,
    everyMs: o.everyMs,
    forMs: o.forMs,
    connections: o.probe ? o.connections : null,
    url: run.url,
    startedAt: run.startedAt,
    durationMs: run.durationMs,
    interrupted: run.interrupted,
    kills: run.kills,
    killsByKind: { worker: run.kills.filter((k) => k.kind === 'worker').length, daemon: run.kills.filter((k) => k.kind === 'daemon').length },
    skipped: run.skipped,
    recovery: { p50: percentile(recovered, 50), worst: recovered.length > 0 ? Math.max(...recovered) : null, unrecovered },
    requests: during ? during.requests : null,
    failed: during ? during.failed : null,
    availability,
    errors: during ? during.errors : null,
    lostPerKill: during ? {
      mean: run.kills.length > 0 ? during.failed / run.kills.length : null,
      worst: lost.length > 0 ? Math.max(...lost) : null,
    } : null,
    before: run.before,
    during,
    errored: run.errored,
    expect: o.expect,
    problems,
    ok: problems.length === 0,
  };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const ms = (n: number | null): string => (n === null ? 'n/a' : n < 10 ? `${n.toFixed(2)} ms` : `${int(n)} ms`);

/** 99.9533 -> "99.953%": enough digits to tell 99.9 from 99.99. */
export function formatPercent(p: number): string {
  return `${p === 100 ? '100' : p.toFixed(3)}%`;
}

function errorsText(errors: Record<string, number>): string {
  const entries = Object.entries(errors).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? 'none' : entries.map(([k, n]) => `${k} ${int(n)}`).join(', ');
}

export function reportText(r: ChaosReport): string {
  const lines: string[] = [];
  const signal = r.signal === 'SIGKILL' ? 'kill -9' : 'SIGSTOP';
  lines.push(`herd chaos ${r.app}: ${r.kills.length} kill(s) in ${(r.durationMs / 1000).toFixed(1)} s, seed ${r.seed}${r.interrupted ? ' (ended early by Ctrl-C)' : ''}`);
  lines.push(`  kills          ${r.killsByKind.worker} worker (${signal}), ${r.killsByKind.daemon} daemon (kill -9); ${r.skipped} time(s) nothing to kill`);
  const recovery = r.kills.length === 0 ? 'no kill'
    : `p50 ${ms(r.recovery.p50)}, worst ${ms(r.recovery.worst)}; ${r.recovery.unrecovered === 0 ? 'every kill recovered' : `${r.recovery.unrecovered} NOT recovered`}`;
  lines.push(`  recovery       ${recovery}`);
  if (r.during && r.requests !== null) {
    const rps = r.during.seconds > 0 ? r.during.requests / r.during.seconds : 0;
    const avail = r.availability === null ? 'n/a' : formatPercent(r.availability);
    const expect = r.expect === null ? '' : ` (expected >= ${r.expect}%: ${r.availability !== null && r.availability >= r.expect ? 'ok' : 'NOT met'})`;
    lines.push(`  requests       ${int(r.requests)} during the kills (${int(rps)}/s), ${int(r.failed ?? 0)} failed: availability ${avail}${expect}`);
    lines.push(`  errors         ${errorsText(r.errors ?? {})}`);
    if (r.lostPerKill && r.lostPerKill.mean !== null) lines.push(`  lost per kill  ${r.lostPerKill.mean.toFixed(1)} on average, worst ${int(r.lostPerKill.worst ?? 0)}`);
    const b = r.before;
    const before = b && b.requests > 0 ? `before ${ms(b.p99)} (${int(b.requests / Math.max(b.seconds, 0.001))}/s, ${int(b.failed)} failed)` : 'before n/a (no baseline)';
    lines.push(`  latency p99    ${before}, during ${ms(r.during.p99)}; p50 ${ms(b?.p50 ?? null)} / ${ms(r.during.p50)}`);
  } else {
    lines.push('  requests       no probe traffic (--no-probe)');
  }
  lines.push(`  errored apps   ${r.errored.length === 0 ? 'none' : r.errored.map((e) => `${e.app} at +${(e.at / 1000).toFixed(1)} s (${e.reason})`).join('; ')}`);
  lines.push(r.ok ? 'result: ok' : `result: FAILED: ${r.problems.join('; ')}`);
  return lines.join('\n');
}
