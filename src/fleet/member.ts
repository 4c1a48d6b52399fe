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
import { randomUUID } from 'node:crypto';
import Redis from 'ioredis';
import { redacted } from '../config/fleet';
import type { FleetSettings } from '../config/types';
import { HERD_VERSION } from '../protocol/version';
import { CommandReader, type CommandExecutor } from './commandReader';
import { sendCommand, type HostOutcome } from './commandSender';
import type { FleetVerb } from './commands';
import { claimTick, type TickClaim } from './jobLock';
import { Revisions } from './revision';
import { rollout, type Balancer, type RolloutOptions, type RolloutReport } from './rollout';
import { fleetView, HOST_TTL_MS, type FleetView } from './status';
import { openSummary, sealSummary } from './summarySeal';
import type { HostSummary, LocalApp } from './types';

const PREFIX = 'herd:fleet:';
const HOSTS = `${PREFIX}hosts`;
const hostKey = (name: string) => `${PREFIX}host:${name}`;
const HEARTBEAT_MS = 1000;
/** A rollout's lock lives this long unless its sender renews it (a third of it each time). */
const ROLLOUT_LOCK_MS = 30_000;
/** Renew or release the lock only while it is still this sender's. */
const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
/** A host not seen for a day leaves the list `herd fleet status` shows. */
const FORGET_MS = 24 * 3600 * 1000;

export class FleetMember {
  private readonly redis: Redis;
  private readonly timer: NodeJS.Timeout;
  private readonly revisions = new Revisions();
  /** Why Redis cannot be used now, or null while it answers. */
  private down: string | null = null;
  private beating = false;
  private readonly commands: CommandReader;
  /**
   * The revision each app's workers run: its code on disk when it was last
   * started, restarted or reloaded through this daemon (else when this
   * daemon first saw it).
   */
  private readonly running = new Map<string, string>();

  constructor(
    readonly settings: FleetSettings,
    private readonly apps: () => LocalApp[],
    executor: CommandExecutor,
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
    this.commands = new CommandReader(this.redis, settings.host, settings.secret, executor, note);
  }

  /** The apps' code on disk, read now (a reload loads this code). */
  codeNow(apps: readonly { cwd: string; script: string }[]): Promise<string[]> {
    return Promise.all(apps.map((a) => this.revisions.fresh(a.cwd, a.script)));
  }

  /** The app's workers now run this revision (it started, restarted or reloaded with it). */
  runsCode(app: string, revision: string): void {
    this.running.set(app, revision);
  }

  /** Runs a verb on each of the hosts through their command streams; each host's progress lines as they come. */
  async send(hosts: readonly string[], verb: FleetVerb, app: string, options: { count?: string; timeoutMs: number; progress: (host: string, line: string) => void }): Promise<HostOutcome[]> {
    if (this.redis.status !== 'ready') throw new Error(`Redis at ${this.url} cannot be reached: ${this.down ?? this.redis.status}`);
    return sendCommand(this.redis, hosts, {
      secret: this.settings.secret,
      sender: `${this.settings.host}:${process.pid}`,
      verb,
      app,
      ...(options.count !== undefined ? { count: options.count } : {}),
      timeoutMs: options.timeoutMs,
      alive: async (host) => (await this.redis.exists(hostKey(host))) === 1,
      progress: options.progress,
    });
  }

  /**
   * The fleet-wide rolling reload (rollout.ts) from this host; one per app
   * across the fleet at a time (a second operator's is refused, naming who
   * runs the first), held in `herd:fleet:rollout:<app>` with a TTL renewed
   * while it runs, so a sender that dies frees it within ROLLOUT_LOCK_MS.
   */
  async rollout(o: RolloutOptions, x: { timeoutMs: number; balancer: Balancer | null; aborted: () => boolean; progress: (line: string) => void }): Promise<RolloutReport> {
    const key = `${PREFIX}rollout:${o.app}`;
    const mine = `${this.settings.host}:${process.pid} since ${new Date().toISOString()} (${randomUUID()})`;
    const taken = await this.redis.set(key, mine, 'PX', ROLLOUT_LOCK_MS, 'NX').catch((err: Error) => {
      throw new Error(`the fleet registry cannot be reached to start the rollout: ${err.message}`);
    });
    if (taken === null) {
      const holder = (await this.redis.get(key).catch(() => null)) ?? 'another host';
      throw new Error(`a fleet reload of "${o.app}" is already running, from ${holder.replace(/ \([^)]*\)$/, '')}; wait for it to end (or stop it with Ctrl-C where it runs)`);
    }
    const renew = setInterval(() => void this.redis.eval(RENEW, 1, key, mine, String(ROLLOUT_LOCK_MS)).catch(() => undefined), ROLLOUT_LOCK_MS / 3);
    try {
      return await this.runRollout(o, x);
    } finally {
      clearInterval(renew);
      await this.redis.eval(RELEASE, 1, key, mine).catch(() => undefined);
    }
  }

  private runRollout(o: RolloutOptions, x: { timeoutMs: number; balancer: Balancer | null; aborted: () => boolean; progress: (line: string) => void }): Promise<RolloutReport> {
    return rollout(o, {
      view: () => this.status(),
      run: async (host, verb, progress) => {
        const started = Date.now();
        try {
          const [outcome] = await this.send([host], verb, o.app, { timeoutMs: x.timeoutMs, progress: (_h, line) => progress(line) });
          return outcome as HostOutcome;
        } catch (err) {
          // Redis went away: an outcome like any other, so the rollout reports it (and puts a drained host back).
          return { host, ok: false, code: 'unanswered', message: (err as Error).message, result: null, ms: Date.now() - started };
        }
      },
      balancer: x.balancer,
      progress: x.progress,
      aborted: x.aborted,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    });
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
      apps: this.apps().map(({ cwd, script, ...app }) => {
        const disk = this.revisions.of(cwd, script);
        if (!this.running.has(app.name)) this.running.set(app.name, disk);
        return { ...app, revision: this.running.get(app.name) as string, disk };
      }),
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
      const seen = names.map((n, i) => {
        const text = texts[i] ?? null;
        return { ...n, ...(text === null ? { summary: null, problem: null } : openSummary(text, n.name, this.settings.secret)) };
      });
      return { ...base, redis: { url: this.url, ok: true, error: null }, ...fleetView(seen, now) };
    } catch (err) {
      return { ...base, redis: { url: this.url, ok: false, error: (err as Error).message }, hosts: [], apps: [] };
    }
  }

  /** Claim a job's tick for this host (jobLock.ts); while Redis is not ready, says so without asking. */
  claimTick(app: string, tickMs: number, ttlMs: number): Promise<TickClaim> {
    if (this.redis.status !== 'ready') return Promise.resolve({ won: false, error: this.down ?? `not connected (${this.redis.status})` });
    return claimTick(this.redis, this.settings.host, app, tickMs, ttlMs);
  }

  /** Leave the fleet: the registration goes (other hosts see this one down at once), then the connection. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.commands.close();
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
        .set(hostKey(summary.name), sealSummary(summary, this.settings.secret), 'PX', HOST_TTL_MS)
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
