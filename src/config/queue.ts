/**
 * The app key `queue: { redis, name, prefix, concurrency, priority }`: a
 * fork-mode app whose workers consume a BullMQ queue (docs/queues.md). herd
 * reads the queue's counts from Redis for the app's metrics and gives the
 * settings to each worker as HERD_QUEUE_* variables; the app builds its own
 * BullMQ Worker from them (herd cannot set options on the app's Worker).
 */
import { redacted } from './fleet';
import { readObject, readString, sub } from './readers';
import { show, type Report, type Setting } from './report';
import type { QueueSpec } from './types';

const KEYS = ['redis', 'name', 'prefix', 'concurrency', 'priority'] as const;
/** BullMQ's range for a job's priority: 1 is the highest; 0 means none. */
export const MAX_PRIORITY = 2_097_152;
const PROTOCOLS = ['redis:', 'rediss:', 'unix:'];

export function readQueue(s: Setting, r: Report): QueueSpec | null {
  if (s === undefined || s.value === null) return null;
  const obj = readObject(s, KEYS, r);
  if (obj === undefined) return null;
  const before = r.problems.length;
  const redisSetting = sub(obj, 'redis', s.key);
  const redis = readString(redisSetting, r);
  if (redisSetting === undefined) r.problem(`${s.key}.redis`, "is required: the Redis URL of the queue, e.g. 'redis://127.0.0.1:6379'");
  else if (redis !== undefined) {
    const problem = queueUrlProblem(redis);
    if (problem !== null) r.problem(redisSetting.key, problem);
  }
  const nameSetting = sub(obj, 'name', s.key);
  const name = readString(nameSetting, r);
  if (nameSetting === undefined) r.problem(`${s.key}.name`, "is required: the BullMQ queue's name, as the app's Worker names it");
  else if (name !== undefined) {
    const problem = queueNameProblem(name);
    if (problem !== null) r.problem(nameSetting.key, problem);
  }
  const prefix = readString(sub(obj, 'prefix', s.key), r) ?? 'bull';
  const concurrency = readWhole(sub(obj, 'concurrency', s.key), 1, 10_000, r) ?? 1;
  const priority = readWhole(sub(obj, 'priority', s.key), 1, MAX_PRIORITY, r) ?? null;
  if (r.problems.length > before || redis === undefined || name === undefined) return null;
  return { redis, name, prefix, concurrency, priority };
}

function readWhole(s: Setting, min: number, max: number, r: Report): number | undefined {
  if (s === undefined || s.value === null) return undefined;
  if (typeof s.value === 'number' && Number.isInteger(s.value) && s.value >= min && s.value <= max) return s.value;
  r.problem(s.key, `must be an integer from ${min} to ${max}; got ${show(s.value)}`);
  return undefined;
}

/**
 * What is wrong with a (non-empty) queue name; null when fine. BullMQ's
 * Queue and Worker constructors throw on a ':' (its key separator): the
 * daemon's reader could never open the queue, nor the app its Worker.
 */
export function queueNameProblem(name: string): string | null {
  return name.includes(':') ? `must not contain ':' (BullMQ refuses it: it separates the parts of the queue's Redis keys); got ${JSON.stringify(name)}` : null;
}

/** What is wrong with a queue's Redis URL (shown without its password); null when fine. */
export function queueUrlProblem(text: string): string | null {
  let url: URL | null = null;
  try {
    url = new URL(text);
  } catch {
    url = null;
  }
  const ok = url !== null && PROTOCOLS.includes(url.protocol) && (url.protocol === 'unix:' ? url.pathname !== '' : url.hostname !== '');
  return ok ? null : `must be a redis://, rediss:// or unix:// URL with a host (or a socket path); got ${JSON.stringify(redacted(text))}`;
}

/**
 * What the rest of an app with a `queue` key must be, by the AppSpec field
 * at fault: a queue app's workers are plain processes that take jobs, so
 * fork mode (not cluster), and never a job (`cron`) of its own. The loader
 * reports these at the user's key; the daemon's spec check, for specs from
 * the control socket or a state.json, at the field.
 */
export function queueAppProblems(app: { execMode?: unknown; job?: unknown }): { field: 'execMode' | 'job'; message: string }[] {
  const problems: { field: 'execMode' | 'job'; message: string }[] = [];
  if (app.execMode === 'cluster') problems.push({ field: 'execMode', message: 'a queue app (queue) runs in fork mode: its workers take jobs from Redis and share no port; remove cluster mode' });
  if (app.job !== null && app.job !== undefined) problems.push({ field: 'job', message: 'a job (cron) cannot also consume a queue; remove cron or queue' });
  return problems;
}

/** The queue as `herd describe` and the daemon's messages show it: the URL's password redacted. */
export function queueShown(q: QueueSpec): QueueSpec {
  return { ...q, redis: redacted(q.redis) };
}

/** What each worker of a queue app finds in its environment, to build its BullMQ Worker from. */
export function queueEnv(q: QueueSpec | null | undefined): Record<string, string> {
  if (!q) return {};
  const env: Record<string, string> = {
    HERD_QUEUE_REDIS: q.redis,
    HERD_QUEUE_NAME: q.name,
    HERD_QUEUE_PREFIX: q.prefix,
    HERD_QUEUE_CONCURRENCY: String(q.concurrency),
  };
  if (q.priority !== null) env.HERD_QUEUE_PRIORITY = String(q.priority);
  return env;
}
