/**
 * Readers for the value types config settings share (strings, durations,
 * counts, command lines, nested objects). Each reports a problem with the
 * setting's path and returns undefined (or null) when the value is unusable.
 */
import { closest } from '../util/closest';
import { parseDuration } from '../util/units';
import { isRecord, join, show, type Report, type Setting } from './report';

export const INSTANCES_RULE = "must be a positive integer, 'max' or -1";

export function checkNestedKeys(raw: Record<string, unknown>, known: readonly string[], at: string, r: Report): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) r.warn(join(at, key), unknownKeyMessage(key, known));
  }
}

export function unknownKeyMessage(key: string, candidates: Iterable<string>): string {
  const near = closest(key, candidates);
  return near === null ? 'unknown key; ignored' : `unknown key; ignored (did you mean '${near}'?)`;
}

export function readString(s: Setting, r: Report): string | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'string' && s.value.trim() !== '') return s.value;
  r.problem(s.key, `must be a non-empty string; got ${show(s.value)}`);
  return undefined;
}

export function readArgs(s: Setting, r: Report): string[] | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'string') {
    const args = splitArgs(s.value);
    if (args === null) r.problem(s.key, `a quote is not closed; got ${show(s.value)}`);
    return args ?? undefined;
  }
  if (Array.isArray(s.value)) {
    const bad = s.value.findIndex((v) => !['string', 'number', 'boolean'].includes(typeof v));
    if (bad === -1) return s.value.map(String);
    r.problem(`${s.key}[${bad}]`, `must be a string; got ${show(s.value[bad])}`);
    return undefined;
  }
  r.problem(s.key, `must be a string or an array of strings; got ${show(s.value)}`);
  return undefined;
}

/**
 * Splits a command line on whitespace as a shell would, without expanding
 * anything: quotes group ("--title 'my app'"), pieces with no space between
 * join (--x="a b"), a backslash escapes inside double quotes. Null when a
 * quote is not closed.
 */
export function splitArgs(text: string): string[] | null {
  const out: string[] = [];
  let current: string | null = null;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] ?? '';
    if (quote === null) {
      if (/\s/.test(c)) {
        if (current !== null) out.push(current);
        current = null;
      } else if (c === '"' || c === "'") {
        quote = c;
        current ??= '';
      } else {
        current = (current ?? '') + c;
      }
    } else if (c === quote) {
      quote = null;
    } else if (quote === '"' && c === '\\' && i + 1 < text.length) {
      current += text[++i] ?? '';
    } else {
      current += c;
    }
  }
  if (quote !== null) return null;
  if (current !== null) out.push(current);
  return out;
}

/** A worker count, or one that depends on the cpu count of the machine running the CLI. */
export type InstancesSetting = number | 'max' | 'max-1';

export function parseInstances(value: unknown): InstancesSetting | null {
  const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (n === 'max' || n === 0) return 'max'; // PM2 reads 0 as 'max'
  if (n === -1) return 'max-1';
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : null;
}

export function resolveInstances(setting: InstancesSetting, cpus: number): number {
  if (setting === 'max') return Math.max(1, cpus);
  if (setting === 'max-1') return Math.max(1, cpus - 1);
  return setting;
}

export function readDuration(s: Setting, r: Report, min: number): number | undefined {
  if (s === undefined) return undefined;
  const ms = parseDuration(s.value);
  if (ms === null || ms < min) {
    const floor = min > 0 ? ` of at least ${min}ms` : '';
    r.problem(s.key, `must be a duration${floor} in ms or like '30s', '5m'; got ${show(s.value)}`);
    return undefined;
  }
  return ms;
}

export function readBoolean(s: Setting, r: Report): boolean | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'boolean') return s.value;
  r.problem(s.key, `must be true or false; got ${show(s.value)}`);
  return undefined;
}

export function readPositiveInt(s: Setting, r: Report): number | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'number' && Number.isInteger(s.value) && s.value >= 1) return s.value;
  r.problem(s.key, `must be a positive integer; got ${show(s.value)}`);
  return undefined;
}

export function readPort(s: Setting, r: Report): number | null {
  if (s === undefined) return null;
  const n = typeof s.value === 'string' && /^\d+$/.test(s.value) ? Number(s.value) : s.value;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535) return n;
  r.problem(s.key, `must be a port number (0-65535); got ${show(s.value)}`);
  return null;
}

/** A herd-native nested object ({ backoff: {...} }), with unknown keys warned about. */
export function readObject(s: Setting, known: readonly string[], r: Report): Record<string, unknown> | undefined {
  if (s === undefined) return undefined;
  if (!isRecord(s.value)) {
    r.problem(s.key, `must be an object with ${known.join(', ')}; got ${show(s.value)}`);
    return undefined;
  }
  checkNestedKeys(s.value, known, s.key, r);
  return s.value;
}

export function sub(obj: Record<string, unknown> | undefined, key: string, at: string): Setting {
  return obj === undefined || obj[key] === undefined ? undefined : { key: `${at}.${key}`, value: obj[key] };
}

export function readNonNegativeInt(s: Setting, r: Report): number | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'number' && Number.isInteger(s.value) && s.value >= 0) return s.value;
  r.problem(s.key, `must be an integer >= 0; got ${show(s.value)}`);
  return undefined;
}

/** PM2 spells the modes both ways. */
export function parseExecMode(value: unknown): 'cluster' | 'fork' | null {
  if (value === 'cluster' || value === 'cluster_mode') return 'cluster';
  if (value === 'fork' || value === 'fork_mode') return 'fork';
  return null;
}
