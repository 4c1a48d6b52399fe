/**
 * The one check of a finished AppSpec, whichever way it arrives: built by
 * the config loader from a file or a command line, or sent over the control
 * socket by a program. The loader reports problems in the user's words
 * (file, key) first; this is the last word on what the daemon will run, so
 * a spec that passes can be spawned without surprises (no `/tmp/[object
 * Object]` socket, no E2BIG at spawn, no 100,000 workers).
 */

import { queueAppProblems, queueNameProblem, queueUrlProblem } from './queue';
import { scalingProblem } from './scalingRules';
import type { ScalingSpec } from './types';
import { show } from './report';

/** Workers per app, whatever asks: config, `-i`, `herd scale`, the control socket. */
export const MAX_INSTANCES = 1024;
/** Linux refuses one argument or environment string longer than this (MAX_ARG_STRLEN, 32 pages). */
export const MAX_ENV_STRING = 128 * 1024;
/** The whole environment plus arguments; Linux's limit is a quarter of the stack limit, 2 MB by default. */
export const MAX_ENV_TOTAL = 1024 * 1024;

type Check = (value: unknown) => string | null;

const MAX_NAME_BYTES = 128;

/** What is wrong with an app name, for every path that names an app (config, CLI, control socket, a dump); null when it is fine. */
export function appNameProblem(name: string): string | null {
  if (name.trim() === '') return 'must not be empty';
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > MAX_NAME_BYTES) return `must be at most ${MAX_NAME_BYTES} bytes (it is part of the app's log file names); got ${bytes}`;
  if (/[/\\]/.test(name) || /[\u0000-\u001f\u007f]/.test(name)) return `must not contain path separators or control characters; got ${show(name)}`;
  if (name === '.' || name === '..') return "must not be '.' or '..'";
  if (name.startsWith('-')) return `must not start with '-' (it would read as an option on the command line); got ${show(name)}`;
  if (name === 'all') return "'all' is reserved (it means every app in CLI commands)";
  return null;
}

const isString: Check = (v) => (typeof v === 'string' ? null : 'must be a string');
const isBool: Check = (v) => (typeof v === 'boolean' ? null : 'must be true or false');
const nonNegative: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? null : 'must be a number >= 0');
const positiveInt: Check = (v) => (Number.isInteger(v) && (v as number) >= 1 ? null : 'must be an integer >= 1');
const stringList: Check = (v) => (Array.isArray(v) && v.every((x) => typeof x === 'string') ? null : 'must be an array of strings');
const orNull = (check: Check): Check => (v) => (v === null ? null : check(v));
const oneOf = (...values: string[]): Check => (v) => (values.includes(v as string) ? null : `must be one of ${values.map((x) => `'${x}'`).join(', ')}`);
const object = (fields: Record<string, Check>): Check => (v) => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'must be an object';
  for (const [key, check] of Object.entries(fields)) {
    const problem = check((v as Record<string, unknown>)[key]);
    if (problem) return `.${key} ${problem}`;
  }
  return null;
};

/** A user or group as /etc/passwd and setpriv take it: a name or a number; nothing that splits a passwd line or reads as an option. */
export const ACCOUNT_KEY = /^[^\s:/-][^\s:/]{0,255}$/;
const accountKey: Check = (v) => (typeof v === 'string' && ACCOUNT_KEY.test(v) ? null : "must be a string: a user or group name, or a numeric id ('1000')");

const instancesCheck: Check = (v) => {
  if (!Number.isInteger(v) || (v as number) < 0) return 'must be an integer >= 0';
  return (v as number) > MAX_INSTANCES ? `${v} is more than the limit of ${MAX_INSTANCES} workers per app` : null;
};

/** Fields of AppSpec and what each must be; a new field without a check is caught by the test of this table. */
export const SPEC_CHECKS: Record<string, Check> = {
  name: (v) => (typeof v === 'string' ? appNameProblem(v) : 'must be a string'),
  script: isString,
  args: stringList,
  cwd: isString,
  instances: instancesCheck,
  execMode: oneOf('cluster', 'fork'),
  env: (v) => envProblem(v),
  nodeArgs: stringList,
  interpreter: isString,
  runner: oneOf('node', 'exec'),
  instanceVar: (v) => (typeof v === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(v) ? null : 'must be an environment variable name'),
  user: orNull(accountKey),
  group: orNull(accountKey),
  sticky: isBool,
  websocketDrain: nonNegative,
  cronRestart: orNull(isString),
  // Absent in specs saved before jobs existed.
  job: (v) => (v === undefined || v === null ? null : object({ schedule: isString, timezone: orNull(isString), fleet: isBool })(v)),
  // Optional: absent for an app without `queue` (and in specs saved before queue apps existed).
  queue: (v) => (v === undefined || v === null ? null : object({
    redis: (u) => (typeof u === 'string' ? (queueUrlProblem(u) === null ? null : 'must be a redis://, rediss:// or unix:// URL') : 'must be a string'),
    name: (n) => (typeof n === 'string' && n.trim() !== '' ? queueNameProblem(n) : 'must be a non-empty string'),
    prefix: (n) => (typeof n === 'string' && n !== '' ? null : 'must be a non-empty string'),
    concurrency: positiveInt,
    priority: orNull(positiveInt),
  })(v)),
  watch: orNull(object({ paths: stringList, ignore: stringList, delay: nonNegative })),
  logFiles: object({ out: orNull(isString), err: orNull(isString), combined: orNull(isString) }),
  maxMemory: orNull(nonNegative),
  killTimeout: nonNegative,
  listenTimeout: nonNegative,
  waitReady: isBool,
  autorestart: isBool,
  backoff: object({ initial: nonNegative, max: nonNegative, factor: nonNegative, resetAfter: nonNegative }),
  crashLoop: object({ maxCrashes: positiveInt, minUptime: nonNegative, window: nonNegative, coolDown: nonNegative }),
  reload: object({ parallel: positiveInt }),
  logs: object({ maxSize: positiveInt, retain: nonNegative, daily: isBool, gzip: isBool, maxLineLength: positiveInt }),
  accessLog: isBool,
  overload: orNull(object({
    maxEventLoopDelay: orNull(nonNegative), maxEventLoopUtilization: orNull(nonNegative), maxInFlight: orNull(nonNegative),
    retryAfter: nonNegative, exempt: stringList,
  })),
  healthCheck: orNull(object({ path: isString, interval: nonNegative, timeout: nonNegative, failures: positiveInt })),
  stallTimeout: nonNegative,
  // Optional: specs saved by an older herd have no such field.
  profileOnStall: (v) => (v === undefined ? null : orNull(object({ delay: nonNegative, duration: nonNegative, cooldown: nonNegative }))(v)),
  minReady: nonNegative,
  metrics: isBool,
  // Optional: absent for a fixed count (and in specs saved before autoscaling).
  scaling: (v) => (v === undefined || v === null ? null : scalingCheck(v)),
  scalingFixed: (v) => (v === undefined ? null : isBool(v)),
  source: object({ configFile: orNull(isString), envName: orNull(isString), cliOverrides: (v) => (typeof v === 'object' && v !== null ? null : 'must be an object') }),
};

const AUTOSCALE_METRICS = ['eventLoop.utilization', 'http.latency.p99', 'http.inFlight', 'queue.waiting'];
const positive: Check = (v) => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? null : 'must be a number > 0');

/** `instances: { min, max }` with `autoscale`, as the loader builds it (src/config/scaling.ts reports in the file's terms). */
const scalingCheck: Check = (v) => {
  const shape = object({
    min: positiveInt, max: positiveInt,
    autoscale: object({ metric: oneOf(...AUTOSCALE_METRICS), target: positive, up: positiveInt, down: positiveInt, coolDown: nonNegative }),
  })(v);
  if (shape !== null) return shape;
  const s = v as { min: number; max: number; autoscale: { metric: string; target: number } };
  if (s.max > MAX_INSTANCES) return `.max ${s.max} is more than the limit of ${MAX_INSTANCES} workers per app`;
  if (s.min > s.max) return `.min must not be more than max (${s.max}); got ${s.min}`;
  if (s.autoscale.metric === 'eventLoop.utilization' && s.autoscale.target > 1) return '.autoscale must have a utilisation target of at most 1';
  return null;
};

/** Every problem of a would-be AppSpec, each prefixed with `at` and its field. */
export function specProblems(value: unknown, at: string): string[] {
  return specProblemList(value, at).map((p) => `${p.path}${p.message.startsWith('.') ? '' : ' '}${p.message}`);
}

/** The same as path and message, for the config loader's report. */
export function specProblemList(value: unknown, at: string): { path: string; message: string }[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [{ path: at, message: 'must be an object' }];
  const spec = value as Record<string, unknown>;
  const problems: { path: string; message: string }[] = [];
  for (const [field, check] of Object.entries(SPEC_CHECKS)) {
    const problem = check(spec[field]);
    if (!problem) continue;
    // A nested problem (".PORT must be ...") belongs to the nested path.
    const nested = /^\.(\w+) (.*)$/s.exec(problem);
    problems.push(nested ? { path: `${at}.${field}.${nested[1]}`, message: nested[2] as string } : { path: `${at}.${field}`, message: problem });
  }
  // Across fields, the loader's rule too: a queue app is fork mode and no job.
  if (typeof spec.queue === 'object' && spec.queue !== null) for (const p of queueAppProblems(spec)) problems.push({ path: `${at}.${p.field}`, message: p.message });
  // The loader's rules for a range as a whole (a job, fork mode, queue.waiting without a queue), for specs that did not come through it.
  if (problems.length === 0 && typeof spec.scaling === 'object' && spec.scaling !== null) {
    const problem = scalingProblem(spec.scaling as ScalingSpec, { execMode: spec.execMode === 'fork' ? 'fork' : 'cluster', job: spec.job != null, queue: spec.queue != null });
    if (problem) problems.push({ path: `${at}.scaling`, message: problem });
  }
  return problems;
}

/**
 * Would this environment pass exec()? Names each variable too long on its
 * own, and the total when the whole is too big, before anything is spawned.
 */
export function envProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object of strings';
  let total = 0;
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v !== 'string') return `.${key} must be a string (got ${v === null ? 'null' : typeof v})`;
    const size = Buffer.byteLength(key) + Buffer.byteLength(v) + 2;
    if (size > MAX_ENV_STRING) return `.${key} is too big (${formatKb(size)}): one variable may be at most ${formatKb(MAX_ENV_STRING)} (Linux's limit for exec)`;
    total += size;
  }
  return total > MAX_ENV_TOTAL ? `is too big (${formatKb(total)} in all): at most ${formatKb(MAX_ENV_TOTAL)} fits in exec() with room for arguments` : null;
}

function formatKb(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / (1024 * 1024)).toFixed(1)}MB` : `${Math.ceil(bytes / 1024)}KB`;
}
