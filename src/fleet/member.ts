/**
 * This host as a member of a fleet: registered in Redis with a TTL that it
 * renews each second with a summary of its apps, and a reader of the whole
 * registry for `herd fleet status`. Loaded (with its Redis client) only when
 * the config sets `fleet`, so a daemon without one stays as light as before.
 *
 * Redis is never on the path of anything local: when it is down every host
 * goes on serving and supervising; the member says so once, retries with a
 * growing delay, and registers again as soon as Redis answers.
 */
import Redis from 'ioredis';
import { redacted } from '../config/fleet';
import type { FleetSettings } from '../config/types';
import { HERD_VERSION } from '../protocol/version';
import { Revisions } from './revision';
import { fleetView, HOST_TTL_MS, type FleetView } from './status';
import type { HostSummary, LocalApp } from './types';

const PREFIX = 'herd:fleet:';
const HOSTS = `${PREFIX}hosts`;
const hostKey = (name: string) => `${PREFIX}host:${name}`;
const HEARTBEAT_MS = 1000;
/** A host not seen for a day leaves the list `herd fleet status` shows. */
const FORGET_MS = 24 * 3600 * 1000;

export class FleetMember {
  private readonly redis: Redis;
  private readonly timer: NodeJS.Timeout;
  private readonly revisions = new Revisions();
  /** Why Redis cannot be used now, or null while it answers. */
  private down: string | null = null;
  private beating = false;

  constructor(
    readonly settings: FleetSettings,
    private readonly apps: () => LocalApp[],
    private readonly note: (line: string) => void,
    /** herd's /ready endpoint on this host, published so a load balancer can check it. */
    private readonly health: () => HostSummary['health'] = () => null,
  ) {
    this.redis = new Redis(settings.redis, {
      lazyConnect: true,
      // A command while Redis is away fails at once instead of piling up: the next heartbeat says it all again.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 2000,
      // A connection open but silent must not hang a heartbeat, a status or the daemon's shutdown.
      commandTimeout: 2000,
      retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
      connectionName: `herd:${settings.host}`,
    });
    this.redis.on('error', (err: Error) => this.unavailable(err.message));
    // The next heartbeat registers again, and says so.
    this.redis.on('ready', () => void this.beat());
    this.redis.connect().catch((err: Error) => this.unavailable(err.message));
    this.timer = setInterval(() => void this.beat(), HEARTBEAT_MS);
    this.timer.unref();
  }

  /** The Redis URL as it may be shown (no password). */
  get url(): string {
    return redacted(this.settings.redis);
  }

  /** The same fleet, host and address: nothing to change. */
  sameAs(settings: FleetSettings): boolean {
    const s = this.settings;
    return s.redis === settings.redis && s.host === settings.host && s.address === settings.address && s.secret === settings.secret
      && JSON.stringify(s.lb ?? null) === JSON.stringify(settings.lb ?? null);
  }

  /** What this host publishes now. */
  summary(): HostSummary {
    return {
      name: this.settings.host,
      address: this.settings.address,
      version: HERD_VERSION,
      pid: process.pid,
      at: Date.now(),
      health: this.health(),
      apps: this.apps().map(({ cwd, script, ...app }) => ({ ...app, revision: this.revisions.of(cwd, script) })),
    };
  }

  /** Every host of the registry with its last summary, and totals per app; what cannot be read is said. */
  async status(): Promise<FleetView> {
    const base = { self: this.settings.host, lb: this.settings.lb ?? null };
    if (this.redis.status !== 'ready') return { ...base, redis: { url: this.url, ok: false, error: this.down ?? `not connected (${this.redis.status})` }, hosts: [], apps: [] };
    try {
      const now = Date.now();
      await this.redis.zremrangebyscore(HOSTS, '-inf', String(now - FORGET_MS));
      const flat = await this.redis.zrange(HOSTS, '0', '-1', 'WITHSCORES');
      const names: { name: string; lastSeen: number }[] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) names.push({ name: flat[i] as string, lastSeen: Number(flat[i + 1]) });
      const texts = names.length > 0 ? await this.redis.mget(...names.map((n) => hostKey(n.name))) : [];
      const seen = names.map((n, i) => ({ ...n, summary: parseSummary(texts[i] ?? null) }));
      return { ...base, redis: { url: this.url, ok: true, error: null }, ...fleetView(seen, now) };
    } catch (err) {
      return { ...base, redis: { url: this.url, ok: false, error: (err as Error).message }, hosts: [], apps: [] };
    }
  }

  /** Leave the fleet: the registration goes (other hosts see this one down at once), then the connection. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    if (this.redis.status === 'ready') await this.redis.del(hostKey(this.settings.host)).catch(() => undefined);
    this.redis.disconnect();
    this.revisions.close();
  }

  private async beat(): Promise<void> {
    if (this.beating || this.redis.status !== 'ready') return;
    this.beating = true;
    try {
      const summary = this.summary();
      await this.redis.multi()
        .set(hostKey(summary.name), JSON.stringify(summary), 'PX', HOST_TTL_MS)
        .zadd(HOSTS, summary.at, summary.name)
        .exec();
      if (this.down !== null) this.note(`fleet: Redis at ${this.url} answers again; ${this.settings.host} is registered`);
      this.down = null;
    } catch (err) {
      this.unavailable((err as Error).message);
    } finally {
      this.beating = false;
    }
  }

  /** Said once per outage: the host keeps serving on its own meanwhile. */
  private unavailable(reason: string): void {
    if (this.down === null) this.note(`fleet: Redis at ${this.url} cannot be reached (${reason}); ${this.settings.host} keeps serving on its own and retries`);
    this.down = reason;
  }
}

function parseSummary(text: string | null): HostSummary | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as HostSummary;
    return typeof value === 'object' && value !== null && Array.isArray(value.apps) ? value : null;
  } catch {
    return null;
  }
}
