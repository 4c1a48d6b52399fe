/**
 * `herd chaos` options: read and checked once, before anything is killed or
 * even asked of the daemon, so that a bad argument changes nothing.
 */
import { randomInt } from 'node:crypto';
import { usage, stringFlag, type ParsedArgs } from '../cli/args';
import { parseDuration } from '../util/units';

export type KillKind = 'worker' | 'daemon' | 'both';
export type ChaosSignal = 'SIGKILL' | 'SIGSTOP';

export interface ChaosOptions {
  app: string;
  /** Mean gap between two kills (each gap is drawn between half and one and a half of it). */
  everyMs: number;
  /** How long kills go on, after the baseline. */
  forMs: number;
  kill: KillKind;
  signal: ChaosSignal;
  /** 32-bit seed of the PRNG that picks when and whom; drawn at random when not given. */
  seed: number;
  seedGiven: boolean;
  /** Probe traffic: keep-alive connections against the app (or `url`); false with --no-probe. */
  probe: boolean;
  connections: number;
  /** The probe's URL when the user gave one (--url); else derived from the app's port. */
  url: string | null;
  /** Probe traffic with no kill before the first one: the "before" figures. */
  baselineMs: number;
  /** One probe request fails as ETIMEDOUT after this long. */
  timeoutMs: number;
  /** Availability (percent) under which the run exits 1; null: none asked for. */
  expect: number | null;
}

export const CHAOS_DEFAULTS = {
  everyMs: 2000,
  forMs: 60_000,
  connections: 50,
  baselineMs: 5000,
  timeoutMs: 10_000,
} as const;

/** The shortest gap accepted: below it the run measures its own polling more than herd. */
const MIN_EVERY_MS = 100;
const MAX_CONNECTIONS = 10_000;

function duration(args: ParsedArgs, flag: 'every' | 'for' | 'baseline' | 'timeout', fallback: number, min: number): number {
  const text = stringFlag(args, flag);
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === null) throw usage(`chaos: --${flag} takes a duration such as 2s, 500ms or 10m; got "${text}"`);
  if (ms < min) throw usage(`chaos: --${flag} must be at least ${min} ms; got "${text}"`);
  return ms;
}

/** KILL, kill, SIGKILL, 9 -> SIGKILL; STOP, SIGSTOP, 19 -> SIGSTOP. */
export function readChaosSignal(text: string): ChaosSignal | null {
  const t = text.trim().toUpperCase().replace(/^SIG/, '');
  if (t === 'KILL' || t === '9') return 'SIGKILL';
  if (t === 'STOP' || t === '19') return 'SIGSTOP';
  return null;
}

/** "99.9%", "99.9", "100" -> 99.9 / 100; null when not a percentage. */
export function readPercent(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%?\s*$/.exec(text);
  if (!m) return null;
  const n = Number(m[1]);
  return n >= 0 && n <= 100 ? n : null;
}

export function readChaosOptions(args: ParsedArgs): ChaosOptions {
  const [app, extra] = args.positionals;
  if (app === undefined) throw usage('chaos: missing app name (`herd chaos <app> [--every 2s] [--for 10m]`)');
  if (extra !== undefined) throw usage(`chaos: unexpected argument "${extra}"`);
  if (app === 'all') throw usage('chaos: takes one app, not all');
  const everyMs = duration(args, 'every', CHAOS_DEFAULTS.everyMs, MIN_EVERY_MS);
  const forMs = duration(args, 'for', CHAOS_DEFAULTS.forMs, 1);
  const baselineMs = duration(args, 'baseline', CHAOS_DEFAULTS.baselineMs, 0);
  const timeoutMs = duration(args, 'timeout', CHAOS_DEFAULTS.timeoutMs, 1);

  const killText = stringFlag(args, 'kill') ?? 'worker';
  if (killText !== 'worker' && killText !== 'daemon' && killText !== 'both') {
    throw usage(`chaos: --kill takes worker, daemon or both; got "${killText}"`);
  }
  const kill: KillKind = killText;
  const signalText = stringFlag(args, 'signal') ?? 'KILL';
  const signal = readChaosSignal(signalText);
  if (signal === null) throw usage(`chaos: --signal takes KILL or STOP; got "${signalText}"`);
  // A frozen daemon is not a crash anything in herd is meant to notice: its workers serve on, nobody replaces it.
  if (signal === 'SIGSTOP' && kill !== 'worker') throw usage(`chaos: --signal STOP freezes workers only; it cannot go with --kill ${kill}`);

  const seedText = stringFlag(args, 'seed');
  if (seedText !== undefined && !(/^\d+$/.test(seedText) && Number(seedText) <= 0xffffffff)) {
    throw usage(`chaos: --seed takes a whole number from 0 to 4294967295; got "${seedText}"`);
  }
  const seed = seedText === undefined ? randomInt(0, 0xffffffff) : Number(seedText);

  const probe = args.flags['no-probe'] !== true;
  const connText = stringFlag(args, 'connections');
  if (connText !== undefined && !(/^\d+$/.test(connText) && Number(connText) >= 1 && Number(connText) <= MAX_CONNECTIONS)) {
    throw usage(`chaos: --connections (-c) takes a number from 1 to ${MAX_CONNECTIONS}; got "${connText}"`);
  }
  const url = stringFlag(args, 'url') ?? null;
  if (url !== null) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      // reported below
    }
    if (parsed === null || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw usage(`chaos: --url takes an http:// or https:// URL; got "${url}"`);
    }
  }
  const expectText = stringFlag(args, 'expect');
  const expect = expectText === undefined ? null : readPercent(expectText);
  if (expectText !== undefined && expect === null) throw usage(`chaos: --expect takes an availability in percent, such as 99.9%; got "${expectText}"`);
  if (!probe) {
    for (const [given, flag] of [[url !== null, 'url'], [expect !== null, 'expect'], [connText !== undefined, 'connections'], [stringFlag(args, 'baseline') !== undefined, 'baseline']] as const) {
      if (given) throw usage(`chaos: --${flag} needs the probe traffic, which --no-probe turns off`);
    }
  }
  return {
    app, everyMs, forMs, kill, signal, seed, seedGiven: seedText !== undefined,
    probe, connections: connText === undefined ? CHAOS_DEFAULTS.connections : Number(connText), url,
    baselineMs: probe ? baselineMs : 0, timeoutMs, expect,
  };
}
