/**
 * What config validation collects while it reads a file: problems (nothing
 * starts) and warnings (the apps start), each with the path of the setting.
 */
import type { ConfigProblem } from './types';

export class Report {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: string[] = [];

  constructor(private readonly label: string) {}

  problem(at: string, message: string): void {
    this.problems.push({ path: at, message });
  }

  warn(at: string, message: string): void {
    this.warnings.push(`${this.label}: ${at}: ${message}`);
  }
}

/** One setting as found in a file: the path it was found under and its raw value. */
export type Setting = { key: string; value: unknown } | undefined;

export function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

/** A value as it reads in a message. */
export function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof RegExp) return `a regular expression (${String(value)})`;
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof RegExp);
}
