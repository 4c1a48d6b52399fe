import type { Queue as BullQueue } from 'bullmq';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { redacted } from '../../config/fleet';
import type { QueueSpec } from '../../config/types';
import type { JobQueueView } from '../../metrics/view';
import { jobDurations, type JobTimes } from './jobDurations';

/**
 * The daemon's reader of queue apps' BullMQ queues (docs/queues.md). Each
 * tick it reads every queue app's job counts and the run times of its newest
 * completed jobs into `app.metrics.jobs`, where `herd metrics`, Prometheus,
 * the dashboard and the autoscaler find them. One Redis connection serves
 * every queue on the same URL. bullmq and ioredis are loaded only when this
 * is built, i.e. when some app has a `queue` key.
 *
 * Redis down is a state, not a failure: the app's view keeps its last counts
 * with `at: null` and the reason in `error` (no password in it), the
 * connection retries in the background, and nothing here throws into the
 * daemon.
 */

/** What the reader needs of an app. */
export interface QueueApp {
  readonly name: string;
  readonly spec: { readonly queue?: QueueSpec | null };
  readonly metrics: { jobs: JobQueueView | null };
}

/** Completed jobs whose run times make the duration figures: the cost per read is one ZREVRANGE and this many HMGETs, pipelined. */
export const DURATION_SAMPLE = 100;
/** A read that takes longer counts as Redis being unreachable. */
const READ_TIMEOUT_MS = 2000;

const EMPTY = { waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0, completed: 0, duration: null };

const COUNT_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

interface Connection {
  readonly url: string;
  readonly redis: Redis;
  /** Why the connection is down, redacted; null while it works. */
  error: string | null;
}

interface Reader {
  readonly spec: QueueSpec;
  readonly conn: Connection;
  readonly queue: BullQueue;
}

type Modules = { Queue: typeof BullQueue; Redis: typeof Redis };

let modules: Modules | null = null;
function load(): Modules {
  modules ??= {
    Queue: (require('bullmq') as typeof import('bullmq')).Queue,
    Redis: (require('ioredis') as { default: typeof Redis }).default,
  };
  return modules;
}

export class QueueReader {
  private readonly connections = new Map<string, Connection>();
  private readonly readers = new Map<string, Reader>();
  /** The queue each app had when bullmq or ioredis refused to open it: not opened again (a new Redis client each tick) until it changes. */
  private readonly refused = new WeakMap<QueueApp, QueueSpec>();
  /** Connections with a read in flight: each Redis is read at its own pace, and a slow one (up to 2 s to connect, 2 s to answer) holds up only the apps on it. */
  private readonly reading = new Set<Connection>();
  private closed = false;
  /** Queues and connections being closed (bounded: a Queue's close() can wait on a Redis that is down). */
  private readonly closings = new Set<Promise<unknown>>();

  /**
   * Bring the readers in line with `apps` (new queue apps, deleted ones, a
   * changed `queue` key) and start a read of every queue whose Redis has no
   * read still going. Returns at once: a slow Redis never holds up the
   * daemon's sampler; the promise settles when the reads started are done
   * (tests).
   */
  tick(apps: Iterable<QueueApp>, now = Date.now()): Promise<void> {
    if (this.closed) return Promise.resolve();
    const list = [...apps];
    // Its closes are bounded and caught inside; this catch is the last guard: nothing here may reach the daemon's uncaughtException.
    this.reconcile(list).catch(() => {});
    const due = new Map<Connection, QueueApp[]>();
    for (const a of list) {
      const conn = this.readers.get(a.name)?.conn;
      if (!conn || this.reading.has(conn)) continue;
      due.set(conn, [...(due.get(conn) ?? []), a]);
    }
    return Promise.all([...due].map(([conn, group]) => {
      this.reading.add(conn);
      return Promise.all(group.map((a) => this.read(a, now))).finally(() => this.reading.delete(conn));
    })).then(() => undefined);
  }

  /** Close every queue and connection (the daemon is stopping). */
  async close(): Promise<void> {
    this.closed = true;
    await this.reconcile([]);
    await Promise.all(this.closings);
  }

  /** Queues and connections open now (tests). */
  get open(): { queues: number; connections: number } {
    return { queues: this.readers.size, connections: this.connections.size };
  }

  private reconcile(apps: readonly QueueApp[]): Promise<void> {
    const wanted = new Map(apps.filter((a) => a.spec.queue).map((a) => [a.name, a.spec.queue as QueueSpec]));
    const closing: Promise<unknown>[] = [];
    for (const [name, reader] of this.readers) {
      const spec = wanted.get(name);
      if (spec && sameQueue(spec, reader.spec)) continue;
      this.readers.delete(name);
      closing.push(this.bounded(reader.queue.close()));
    }
    for (const a of apps) {
      const spec = wanted.get(a.name);
      if (!spec) a.metrics.jobs = null;
      else if (!this.readers.has(a.name)) {
        const refused = this.refused.get(a);
        if (refused && sameQueue(refused, spec)) continue;
        try {
          this.readers.set(a.name, this.openReader(spec));
          this.refused.delete(a);
        } catch (err) {
          // A spec the checks let through but ioredis or bullmq refuse: said in the app's view, tried again when its queue key changes.
          this.refused.set(a, spec);
          a.metrics.jobs = { ...EMPTY, at: null, error: redactedError(err, spec.redis) };
        }
      }
    }
    const used = new Set([...this.readers.values()].map((r) => r.conn.url));
    for (const [url, conn] of this.connections) {
      if (used.has(url)) continue;
      this.connections.delete(url);
      // After the queues on it closed: a BullMQ Queue on a shared connection leaves it open.
      closing.push(Promise.allSettled(closing).then(() => conn.redis.disconnect()).catch(() => {}));
    }
    return Promise.all(closing).then(() => undefined);
  }

  private bounded(promise: Promise<unknown>): Promise<unknown> {
    const p = withTimeout(promise, READ_TIMEOUT_MS).catch(() => {});
    this.closings.add(p);
    void p.finally(() => this.closings.delete(p));
    return p;
  }

  private openReader(spec: QueueSpec): Reader {
    const { Queue } = load();
    const shared = this.connections.has(spec.redis);
    const conn = this.connection(spec.redis);
    try {
      const queue = new Queue(spec.name, { connection: conn.redis, prefix: spec.prefix });
      // A Queue re-emits its connection's errors; the connection's own listener records them.
      queue.on('error', () => {});
      return { spec, conn, queue };
    } catch (err) {
      // A connection made for this queue alone goes with it, at once: no client left connecting for nothing.
      if (!shared) {
        this.connections.delete(spec.redis);
        conn.redis.disconnect();
      }
      throw err;
    }
  }

  private connection(url: string): Connection {
    const found = this.connections.get(url);
    if (found) return found;
    const { Redis: Client } = load();
    const redis = new Client({
      ...redisOptions(url),
      // A read while Redis is down fails at once instead of queueing behind a reconnect.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      retryStrategy: (times: number) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    });
    const conn: Connection = { url, redis, error: null };
    redis.on('error', (err: Error) => {
      conn.error = redactedError(err, url);
    });
    redis.on('ready', () => {
      conn.error = null;
    });
    this.connections.set(url, conn);
    return conn;
  }

  private async read(app: QueueApp, now: number): Promise<void> {
    const reader = this.readers.get(app.name);
    if (!reader) return;
    const last = app.metrics.jobs;
    try {
      await connected(reader.conn);
      const [counts, times] = await withTimeout(Promise.all([
        reader.queue.getJobCounts(...COUNT_STATES),
        newestRunTimes(reader.conn.redis, reader.spec),
      ]), READ_TIMEOUT_MS);
      // The app may have been deleted, or its queue changed, while Redis answered.
      if (this.readers.get(app.name) !== reader) return;
      app.metrics.jobs = {
        waiting: counts.waiting ?? 0,
        active: counts.active ?? 0,
        delayed: counts.delayed ?? 0,
        prioritized: counts.prioritized ?? 0,
        failed: counts.failed ?? 0,
        completed: counts.completed ?? 0,
        duration: jobDurations(times),
        at: now,
        error: null,
      };
    } catch (err) {
      if (this.readers.get(app.name) !== reader) return;
      app.metrics.jobs = {
        ...(last ?? EMPTY),
        at: null,
        error: redactedError(err, reader.spec.redis),
      };
    }
  }
}

/** processedOn and finishedOn of the newest completed jobs (BullMQ scores its completed set by finish time). */
async function newestRunTimes(redis: Redis, spec: QueueSpec): Promise<JobTimes[]> {
  const base = `${spec.prefix}:${spec.name}`;
  const ids = await redis.zrevrange(`${base}:completed`, 0, DURATION_SAMPLE - 1);
  if (ids.length === 0) return [];
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(`${base}:${id}`, 'processedOn', 'finishedOn');
  const results = (await pipeline.exec()) ?? [];
  return results.map(([, value]) => {
    const [processedOn, finishedOn] = (Array.isArray(value) ? value : []) as (string | null)[];
    return { processedOn: Number(processedOn), finishedOn: Number(finishedOn) };
  });
}

/** The connection ready to be read: at once, or after its first connect (up to the read timeout); a failed one throws why. */
async function connected(conn: Connection): Promise<void> {
  const { redis } = conn;
  if (redis.status === 'ready') return;
  // Down (it failed before): say so now rather than wait for a reconnect.
  if (conn.error !== null || !['connecting', 'connect', 'wait'].includes(redis.status)) throw new Error(conn.error ?? `Redis not connected (${redis.status})`);
  let onReady: (() => void) | undefined;
  try {
    await withTimeout(new Promise<void>((resolve) => redis.once('ready', (onReady = resolve))), READ_TIMEOUT_MS);
  } finally {
    if (onReady) redis.removeListener('ready', onReady);
  }
}

function sameQueue(a: QueueSpec, b: QueueSpec): boolean {
  return a.redis === b.redis && a.name === b.name && a.prefix === b.prefix;
}

/** ioredis options for a queue URL: redis:// and rediss:// as ioredis reads them, unix:///path as its socket path. */
export function redisOptions(url: string): RedisOptions {
  const u = new URL(url);
  if (u.protocol === 'unix:') {
    const db = u.searchParams.get('db');
    return {
      path: decodeURIComponent(u.pathname),
      ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
      ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      ...(db ? { db: Number(db) } : {}),
    };
  }
  const db = u.pathname.replace(/^\//, '');
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db !== '' && /^\d+$/.test(db) ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: { servername: u.hostname } } : {}),
  };
}

/** An error's message as herd may show it: whatever the URL's password is, it is not in there. */
export function redactedError(err: unknown, url: string): string {
  let message = (err instanceof Error ? err.message : String(err)).split(url).join(redacted(url));
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    password = '';
  }
  for (const secret of password === '' ? [] : [password, decodeURIComponent(password)]) message = message.split(secret).join('***');
  return message;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
