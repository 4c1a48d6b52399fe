import { heapSnapshot } from './heap/heapRequest';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { HerdError } from '../errors';
import { HERD_VERSION, PROTOCOL_VERSION } from '../protocol/version';
import { DEFAULTS, type DaemonSettings, type FleetSettings } from '../config/types';
import type * as FleetModule from '../fleet/member';
import type { FleetMember } from '../fleet/member';
import type { CommandExecutor } from '../fleet/commandReader';
import type * as HaproxyBalancerModule from '../fleet/haproxyBalancer';
import type { Balancer } from '../fleet/rollout';
import type { AppSpec } from '../config/types';
import { DashboardServer } from '../dashboard/server';
import { ensureHome, type HerdPaths } from '../util/paths';
import { stopLeftShims } from '../shim/leftShims';
import { parseSignal } from '../util/signals';
import type { HealthEndpointSpec } from '../config/types';
import { profileHandler } from './control/profileHandler';
import { ControlServer, type HandlerTable } from './control/controlServer';
import { HealthEndpoint } from './http/healthEndpoint';
import type { LogSink } from '../logs/logSink';
import { PrometheusServer } from './http/prometheusServer';
import { Supervisor, type HostFactory } from './supervision/supervisor';
import { resurrect, saveDump } from './state/dump';
import { restartedReason, StateKeeper } from './state/stateKeeper';
import { writeFileAtomicSync } from '../util/atomicWrite';
import { adoptShims } from './state/adoption';
import { startSuccessor, type Handover } from './handover';
import type { RequestOf, ResultOf } from '../protocol/control';
import { webSocketFlag } from '../util/nodeFlags';
import { retireServer } from './http/listen';
import type { ShimHosts } from './hosts/shimHosts';

export interface DaemonOptions {
  /**
   * Keep the app list in HERD_HOME/state.json and list it again at start.
   * The background daemon does; `herd run` does not (its apps are its
   * command line, and it must not replace the list a daemon left).
   */
  keepState?: boolean;
  /** Where apps' workers run: each app's shim for the daemon; in this process unless told (`herd run`). */
  hosts?: HostFactory;
  /**
   * The background daemon's shims: at start, those a daemon that died left
   * running are taken over (their apps keep their workers). Without it
   * (`herd run`), shims found are stopped instead.
   */
  shims?: ShimHosts;
}

/**
 * A supervisor with its control socket: the background daemon, and `herd run`
 * in the foreground, are both this.
 */
export class Daemon {
  readonly supervisor: Supervisor;
  private readonly control: ControlServer;
  private readonly health: HealthEndpoint;
  private readonly prometheus: PrometheusServer;
  private readonly dashboard: DashboardServer;
  private stopping: Promise<string[]> | null = null;
  private endFollowers: () => void = () => {};
  /** Resolves when the daemon shuts down, ending `herd logs --follow` streams. */
  private readonly closing = new Promise<void>((resolve) => (this.endFollowers = resolve));
  private draining: Promise<string[]> | null = null;
  private readonly state: StateKeeper | null;
  private updating = false;
  /** The control socket came from the daemon this one replaced: its path is this one's to unlink. */
  private inheritedSocket = false;
  /** The fleet this host joined (config key `fleet`), or null. */
  private fleet: FleetMember | null = null;
  /** Fleet rollouts this daemon runs (`herd fleet reload`), by the name their CLI gave: Ctrl-C sets `aborted`. */
  private readonly rollouts = new Map<string, { aborted: boolean }>();

  constructor(private readonly paths: HerdPaths, private readonly logs: LogSink, private readonly onKill: () => void, private readonly options: DaemonOptions = {}) {
    this.supervisor = new Supervisor(logs, options.hosts, {
      jobsFile: options.keepState === true ? path.join(paths.home, 'jobs.json') : null,
      profilesDir: path.join(paths.home, 'profiles'),
      fleet: () => {
        const fleet = this.fleet;
        return fleet === null ? null : { host: fleet.settings.host, claimTick: (app, tickMs, ttlMs) => fleet.claimTick(app, tickMs, ttlMs) };
      },
    });
    const note = (line: string) => console.log(`${new Date().toISOString()} herd: ${line}`);
    this.state = options.keepState === true ? new StateKeeper(paths.stateFile, () => this.supervisor.savedApps(), note, undefined, () => this.currentSettings()) : null;
    this.supervisor.onAppsChanged(() => this.state?.changed());
    this.prometheus = new PrometheusServer(() => this.supervisor.prometheus());
    this.control = new ControlServer(this.handlers());
    this.health = new HealthEndpoint(this.supervisor);
    this.dashboard = new DashboardServer({
      source: this.supervisor,
      actions: this.supervisor,
      // Read when asked: the host joins (or moves) with `herd start <config>`, after the dashboard is made.
      fleet: {
        status: async () => (this.fleet ? this.fleet.status() : null),
        command: async (verb, app, count, hosts, progress) =>
          (await this.fleetCommand({ type: 'fleetCommand', verb, app, count, hosts, timeoutMs: DASHBOARD_FLEET_TIMEOUT_MS }, progress)).results,
        reload: (app, o, progress) => this.fleetReload({
          type: 'fleetReload', app, rollout: `dashboard-${randomUUID()}`, hosts: o.hosts, batch: o.batch, drain: this.fleet?.settings.lb !== undefined,
          expectRevision: null, settleMs: o.settleMs, timeoutMs: DASHBOARD_FLEET_TIMEOUT_MS,
        }, progress),
      },
      subscribe: (listener) => logs.subscribe(listener),
      logDir: logs.dir,
      tokenFile: path.join(paths.home, 'dashboard.token'),
      note: (line) => console.log(`${new Date().toISOString()} herd: ${line}`),
    });
  }

  /** Serve /ready and /live as the config's top-level `health` says. */
  configureHealth(spec: HealthEndpointSpec | null | undefined): Promise<void> {
    return spec ? this.health.configure(spec) : Promise.resolve();
  }

  /**
   * /ready turns 503, then after `health.shutdownDelay` (time for load
   * balancers to notice) every app drains. Safe to call more than once.
   */
  private drainAll(by: string): Promise<string[]> {
    this.draining ??= (async () => {
      // The list is saved as it is now, before the apps stop: they were running, a new daemon brings them back.
      const saved = this.state?.close(by);
      this.health.beginShutdown();
      const delay = this.health.shutdownDelay;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      const names = await this.supervisor.shutdown();
      await saved;
      return names;
    })();
    return this.draining;
  }

  /**
   * Own HERD_HOME: bind the control socket (or serve on the one handed over
   * by the daemon this one replaces, `herd update`), take over the apps
   * left serving under their shims, list the rest of the remembered ones.
   */
  async listen(handover?: Handover): Promise<void> {
    ensureHome(this.paths);
    if (!handover) await removeStaleSocket(this.paths.socket, this.paths.home);
    const { apps, previous } = this.state?.load() ?? { apps: [], previous: null };
    // The bound socket is the lock: no other daemon adopts the same shims. Requests wait until the apps are listed.
    if (handover) await this.control.listenOn(handover.control);
    else await this.control.listen(this.paths.socket);
    this.inheritedSocket = handover !== undefined;
    let listed!: () => void;
    this.control.holdUntil(new Promise<void>((resolve) => (listed = resolve)));
    try {
      const adopted = new Set<string>();
      if (this.options.shims) {
        // Apps a daemon that died left serving under their shims are taken over, workers and all.
        const why = handover ? `herd update from herd ${handover.from.version}, daemon pid ${handover.from.pid}`
          : previous === null ? 'the last daemon left no state' : `the last daemon, pid ${previous.pid}, did not shut down`;
        const result = await adoptShims(this.paths.run, this.options.shims, this.supervisor, apps, why, handover !== undefined);
        for (const a of result.adopted) adopted.add(a.app);
        const say = (line: string) => console.error(`${new Date().toISOString()} daemon: ${line}`);
        for (const a of result.adopted) say(`adopted ${a.app} from shim pid ${a.shim}: workers ${a.workers.join(', ') || 'none'}`);
        for (const problem of result.problems) say(problem);
      } else {
        // `herd run`: shims a dead daemon left hold their apps' ports; they drain and end before this one starts any.
        await stopLeftover(this.paths);
      }
      // Its endpoints, alerts and fleet as the last daemon had them: one restarted by systemd or after a crash comes back whole.
      if (!handover && previous?.settings) await this.restoreSettings(previous.settings);
      // The rest of the list the last daemon kept is listed again, stopped, waiting for `herd resurrect`.
      if (this.state) this.supervisor.remember(apps.filter((a) => !adopted.has(a.name)), restartedReason(this.state.startedAt, previous));
      writeFileAtomicSync(this.paths.pidFile, `${process.pid}\n`);
      this.state?.begin();
    } finally {
      listed();
    }
  }

  /** What state.json keeps of this daemon's settings: each endpoint as it serves (its bound port), alerts, the fleet. */
  private currentSettings(): DaemonSettings {
    return {
      health: this.health.handover()?.spec ?? null,
      prometheus: this.prometheus.handover()?.settings ?? null,
      dashboard: this.dashboard.handover()?.settings ?? null,
      alerts: this.supervisor.alerts.current,
      fleet: this.fleet?.settings ?? null,
    };
  }

  /** Each part on its own: one that fails (a port taken, a bad value) leaves the others applied, and is logged. */
  private async restoreSettings(settings: DaemonSettings): Promise<void> {
    const say = (line: string) => console.error(`${new Date().toISOString()} daemon: ${line}`);
    const parts: [string, () => Promise<unknown>][] = [
      ['health', () => this.configureHealth(settings.health)],
      ['prometheus', () => this.configure({ health: null, prometheus: settings.prometheus ?? null, dashboard: null, alerts: null })],
      ['dashboard', () => this.configure({ health: null, prometheus: null, dashboard: settings.dashboard ?? null, alerts: null })],
      ['alerts', async () => this.supervisor.alerts.configure(settings.alerts ?? null)],
      ['fleet', async () => (settings.fleet && typeof settings.fleet.redis === 'string' && typeof settings.fleet.secret === 'string' ? this.joinFleet(settings.fleet) : undefined)],
    ];
    const applied: string[] = [];
    for (const [name, apply] of parts) {
      if ((settings as unknown as Record<string, unknown>)[name] == null) continue;
      try {
        await apply();
        applied.push(name === 'fleet' ? `fleet (${this.fleet?.url ?? ''})` : name);
      } catch (err) {
        say(`the last daemon's ${name} settings could not be applied again: ${(err as Error).message}; \`herd start <config>\` applies them`);
      }
    }
    say(`settings of the last daemon applied again: ${applied.join(', ') || 'none'}`);
  }

  /** Drain every app, then close the socket. Safe to call more than once. `by` is recorded in state.json. */
  shutdown(by = 'shutdown'): Promise<string[]> {
    this.stopping ??= (async () => {
      const names = await this.drainAll(by);
      this.endFollowers();
      await this.fleet?.close();
      await this.prometheus.close();
      await this.dashboard.close();
      await this.control.close();
      // A socket handed over by `herd update` is not unlinked by its close (this process did not bind it);
      // one it bound is, by libuv, and the path may be a newer daemon's by now.
      if (this.inheritedSocket) fs.rmSync(this.paths.socket, { force: true });
      await this.health.close();
      // Only while it names this daemon: a new one may have written it meanwhile.
      if (readPid(this.paths.pidFile) === process.pid) fs.rmSync(this.paths.pidFile, { force: true });
      return names;
    })();
    return this.stopping;
  }

  /**
   * Apply a config file's daemon settings (alerts, the Prometheus endpoint,
   * the dashboard). Null means the target was a script: the settings stay as
   * they are, and so does a file without `metrics.prometheus` or
   * `dashboard` for that endpoint (one turned on by `herd dashboard` keeps
   * running), as with `health`. Answers where each endpoint serves.
   */
  async configure(settings: DaemonSettings | null | undefined): Promise<{ prometheus: string | null; dashboard: string | null }> {
    if (settings !== null && settings !== undefined) {
      this.supervisor.alerts.configure(settings.alerts ?? null);
      if (settings.fleet) await this.joinFleet(settings.fleet);
      // Both are tried even when one fails; the first failure is reported.
      const results = await Promise.allSettled([
        settings.prometheus ? this.prometheus.configure(settings.prometheus) : Promise.resolve(null),
        settings.dashboard ? this.dashboard.configure(settings.dashboard) : Promise.resolve(null),
      ]);
      this.state?.changed();
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    return { prometheus: this.prometheus.address, dashboard: this.dashboard.url };
  }

  /**
   * Join the fleet (or move to another Redis, name or address): the Redis
   * client is loaded only now, so a daemon without a fleet never loads it.
   */
  private async joinFleet(settings: FleetSettings): Promise<void> {
    if (this.fleet?.sameAs(settings)) return;
    await this.fleet?.close();
    const { FleetMember: Member } = require('../fleet/member') as typeof FleetModule;
    this.fleet = new Member(settings, () => this.supervisor.fleetApps(), this.fleetExecutor(), (line) => console.error(`${new Date().toISOString()} herd: ${line}`), () => this.health.address());
  }

  /** What a fleet command runs here: the same supervisor operations as the local CLI's. */
  private fleetExecutor(): CommandExecutor {
    const s = this.supervisor;
    return {
      runs: (app) => s.names().includes(app),
      execute: async (c, progress) => {
        switch (c.verb) {
          case 'revision': {
            const [spec] = s.specsOf(c.app);
            return { revision: spec && this.fleet ? (await this.fleet.codeNow([spec]))[0] : null };
          }
          case 'reload': return this.withCode(s.specsOf(c.app), async () => ({ names: await s.reload(c.app, null, progress) }));
          case 'restart': return this.withCode(s.specsOf(c.app), async () => ({ names: await s.restartWith(c.app, null) }));
          case 'start': return this.withCode(s.specsOf(c.app), () => s.startListed(c.app));
          case 'stop': return { names: await s.stop(c.app) };
          case 'scale': return s.scale(c.app, c.count as string, progress);
        }
      },
    };
  }

  /**
   * Run what loads the apps' code (start, restart, reload) with the fleet
   * told which revision that is, once it worked: the revision each host
   * publishes is the one its workers run. The result gets the revision.
   */
  private async withCode<T extends object>(specs: readonly AppSpec[], run: () => Promise<T>): Promise<T & { revision?: string }> {
    const fleet = this.fleet;
    if (!fleet || specs.length === 0) return run();
    const revisions = await fleet.codeNow(specs);
    const result = await run();
    specs.forEach((spec, i) => fleet.runsCode(spec.name, revisions[i] as string));
    return specs.length === 1 ? { ...result, revision: revisions[0] as string } : result;
  }

  private member(): FleetMember {
    if (!this.fleet) throw new HerdError('HERD_ERR_FLEET_OFF', {}, ['add `fleet: { redis, host, secret }` to the config file and run `herd start <config>` (or `herd reload <config>`)']);
    return this.fleet;
  }

  /** `herd fleet restart|stop|start|scale`, and the dashboard's fleet actions. */
  private async fleetCommand(r: RequestOf<'fleetCommand'>, progress: (line: string) => void): Promise<ResultOf['fleetCommand']> {
    const fleet = this.member();
    const hosts = await fleetTargets(fleet, r.app, r.hosts);
    const results = await fleet.send(hosts, r.verb, r.app, {
      ...(r.count !== null ? { count: r.count } : {}),
      timeoutMs: r.timeoutMs,
      progress: (host, line) => progress(`[${host}] ${line}`),
    });
    return { verb: r.verb, app: r.app, results };
  }

  /** `herd fleet reload`, and the dashboard's fleet reload. */
  private async fleetReload(r: RequestOf<'fleetReload'>, progress: (line: string) => void): Promise<ResultOf['fleetReload']> {
    const fleet = this.member();
    if (this.rollouts.has(r.rollout)) throw new HerdError('HERD_ERR_FLEET_COMMAND', { reason: `a rollout named ${r.rollout} is running` });
    const rollout = { aborted: false };
    this.rollouts.set(r.rollout, rollout);
    try {
      return await fleet.rollout(
        { app: r.app, batch: r.batch, drain: r.drain, expectRevision: r.expectRevision, settleMs: r.settleMs, hosts: r.hosts },
        { timeoutMs: r.timeoutMs, balancer: this.balancer(fleet, r.app, r.drain, progress), aborted: () => rollout.aborted, progress },
      ).catch((err: Error) => {
        throw err instanceof HerdError ? err : new HerdError('HERD_ERR_FLEET_COMMAND', { reason: err.message });
      });
    } finally {
      this.rollouts.delete(r.rollout);
    }
  }

  /** How `--drain` takes a host out of the load balancer: HAProxy's runtime API at `fleet.lb.haproxy` (loaded only then). */
  private balancer(fleet: FleetMember, app: string, drain: boolean, progress: (line: string) => void): Balancer | null {
    if (!drain) return null;
    const lb = fleet.settings.lb;
    if (!lb) throw new HerdError('HERD_ERR_FLEET_COMMAND', { reason: '--drain needs `fleet.lb: { haproxy: { socket, backend } }` in the config (where HAProxy\'s runtime API is)' });
    const { HaproxyBalancer, backendOf } = require('../fleet/haproxyBalancer') as typeof HaproxyBalancerModule;
    return new HaproxyBalancer(lb, backendOf(lb, app), progress);
  }

  /** `herd dashboard`: serve it (where it already serves, unless told otherwise) and answer its URL. */
  private async serveDashboard(port: number | null, host: string | null): Promise<{ url: string }> {
    const current = this.dashboard.settings;
    const url = await this.dashboard.configure({
      port: port ?? current?.port ?? DEFAULTS.dashboard.port,
      host: host ?? current?.host ?? DEFAULTS.dashboard.host,
      token: current?.token ?? null,
    });
    this.state?.changed();
    return { url };
  }

  /**
   * `herd update`: hand this daemon over to the one at `daemonMain` (the
   * herd installed now). Requests wait meanwhile; operations running are
   * let finish (60 s at most); the app list is written; the supervisor
   * stops acting on workers; the new daemon is started with the sockets
   * and settings, adopts every app and says ready. Then this one answers
   * and exits without closing its sockets. On any failure everything is
   * taken back and this daemon goes on as it was.
   */
  private async update(execPath: string, daemonMain: string, progress: (message: string) => void): Promise<ResultOf['update']> {
    const shims = this.options.shims;
    const failed = (reason: string) => new HerdError('HERD_ERR_UPDATE_FAILED', { pid: process.pid, reason });
    if (!shims) throw failed('`herd run` runs in the foreground, with no shims to hand over: restart it instead');
    if (this.updating) throw failed('another herd update is running');
    for (const file of [execPath, daemonMain]) if (!path.isAbsolute(file) || !fs.existsSync(file)) throw failed(`${file} does not exist`);
    this.updating = true;
    let release!: () => void;
    this.control.holdUntil(new Promise<void>((resolve) => (release = resolve)));
    try {
      const deadline = Date.now() + UPDATE_IDLE_TIMEOUT_MS;
      while (!this.supervisor.idle()) {
        if (Date.now() > deadline) throw failed(`an operation did not end within ${UPDATE_IDLE_TIMEOUT_MS / 1000} s (${this.supervisor.names().join(', ')})`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await this.state?.suspend();
      progress('the app list is written; handing the apps over');
      this.supervisor.pause(true);
      shims.handOver();
      const from = { pid: process.pid, version: HERD_VERSION };
      // Read once: the endpoints and the settings handed over are the same servers.
      const health = this.health.handover();
      const prometheus = this.prometheus.handover();
      const dashboard = this.dashboard.handover();
      const endpoints = [
        ...(health ? [{ at: health.spec, server: health.server }] : []),
        ...(prometheus ? [{ at: prometheus.settings, server: prometheus.server }] : []),
        ...(dashboard ? [{ at: dashboard.settings, server: dashboard.server }] : []),
      ];
      try {
        const to = await startSuccessor(execPath, daemonMain, webSocketFlag(), this.paths.daemonLog, {
          control: this.control.listening,
          endpoints,
          settings: {
            health: health?.spec ?? null,
            prometheus: prometheus?.settings ?? null,
            dashboard: dashboard?.settings ?? null,
            alerts: this.supervisor.alerts.current,
            fleet: this.fleet?.settings ?? null,
          },
          from,
        });
        progress(`daemon pid ${to.pid} (herd ${to.version}) serves; this one (pid ${from.pid}) exits`);
        this.control.refuseAll(new HerdError('HERD_ERR_UPDATING', { reason: `daemon pid ${process.pid} was replaced by pid ${to.pid}; run the command again` }));
        console.log(`${new Date().toISOString()} daemon: herd update: replaced by daemon pid ${to.pid} (herd ${to.version}); exiting`);
        // The new daemon accepts on the same sockets already: this one stops accepting HTTP and lets requests in
        // flight finish, answers its control connections `HERD_ERR_UPDATING` meanwhile (the CLI asks again), and
        // exits without closing the control socket (closing it would unlink the path the new daemon serves).
        void Promise.all([
          ...endpoints.map((e) => retireServer(e.server, HANDOVER_GRACE_MS)),
          new Promise((resolve) => setTimeout(resolve, HANDOVER_MIN_MS)),
        ]).then(() => process.exit(0));
        return { from, to, apps: this.supervisor.names().length, workers: this.supervisor.workerCount() };
      } catch (err) {
        console.error(`${new Date().toISOString()} daemon: herd update failed: ${(err as Error).message}; this daemon stays`);
        await shims.resume();
        this.supervisor.pause(false);
        this.state?.begin();
        throw err instanceof HerdError && err.code === 'HERD_ERR_UPDATE_FAILED' ? err : failed((err as Error).message);
      }
    } finally {
      this.updating = false;
      release();
    }
  }

  /** What every CLI may show: a state file that could not be used, apps waiting for `herd resurrect`. */
  private notices(): string[] {
    const waiting = this.supervisor.awaitingResurrect();
    const since = this.state?.startedAt ?? '';
    return [
      ...(this.state?.notices() ?? []),
      ...(waiting.length === 0 ? [] : [`not running since the daemon restarted at ${since}: ${waiting.join(', ')}; ` +
        (fs.existsSync(this.paths.dumpFile)
          ? `\`herd resurrect\` starts the apps saved in ${this.paths.dumpFile}, \`herd start <name>\` one of these`
          : '`herd resurrect` starts them')]),
    ];
  }

  private handlers(): HandlerTable {
    const s = this.supervisor;
    return {
      hello: async () => ({ protocol: PROTOCOL_VERSION, version: HERD_VERSION, pid: process.pid, home: this.paths.home, notices: this.notices() }),
      start: async (r) => {
        await this.configureHealth(r.settings?.health);
        // Both run even when one fails: apps start whatever happens to the endpoint.
        const [apps, endpoints] = await Promise.allSettled([this.withCode(r.apps, () => s.start(r.apps)), this.configure(r.settings)]);
        if (apps.status === 'rejected') throw apps.reason;
        if (endpoints.status === 'rejected') throw endpoints.reason;
        return { ...apps.value, ...endpoints.value };
      },
      stop: async (r) => ({ names: await s.stop(r.target) }),
      restart: async (r) => this.withCode(r.specs ?? s.specsOf(r.target), async () => ({ names: await s.restartWith(r.target, r.specs ?? null) })),
      reload: async (r, progress) => this.withCode(r.specs ?? s.specsOf(r.target), async () => ({ names: await s.reload(r.target, r.specs, progress) })),
      delete: async (r) => ({ names: await s.delete(r.target) }),
      startApp: async (r) => this.withCode(s.specsOf(r.target), () => s.startListed(r.target)),
      reset: async (r) => ({ names: s.reset(r.target) }),
      signal: async (r) => s.signal(r.name, parseSignal(r.signal) as NodeJS.Signals, r.worker),
      scale: async (r, progress) => s.scale(r.name, r.count, progress),
      list: async () => s.list(),
      describe: async (r) => s.describe(r.name),
      logs: async (r, progress, stream) => {
        if (r.name !== null) s.describe(r.name); // an unknown app is an error, not an empty stream
        let skipped = 0;
        const off = this.logs.subscribe((line) => {
          if ((r.name === null || line.app === r.name) && r.streams.includes(line.stream) && !stream.line(line)) skipped++;
        });
        // Tells the client it is subscribed: history read from the files after this misses nothing.
        await this.logs.whenFollowing?.();
        progress('following');
        await Promise.race([stream.closed, this.closing]);
        off();
        return { skipped };
      },
      flush: async (r) => ({ names: await this.logs.flush(r.target === 'all' ? null : r.target) }),
      metrics: async (r) => s.metrics(r.name, r.worker),
      monit: async () => s.monit(),
      alerts: async () => s.alerts.view(),
      dashboard: async (r) => this.serveDashboard(r.port, r.host),
      save: async (r) => saveDump(this.paths.dumpFile, s.savedApps(), r.force),
      resurrect: async (_r, progress) => resurrect(s, { dump: this.paths.dumpFile, state: this.state ? this.paths.stateFile : null }, progress),
      update: async (r, progress) => this.update(r.execPath, r.daemonMain, progress),
      fleetStatus: async () => this.member().status(),
      fleetCommand: (r, progress) => this.fleetCommand(r, progress),
      fleetReload: (r, progress) => this.fleetReload(r, progress),
      fleetAbort: async (r) => {
        const rollout = this.rollouts.get(r.rollout);
        if (rollout) rollout.aborted = true;
        return { found: rollout !== undefined };
      },
      jobs: async () => ({ jobs: s.jobViews() }),
      profile: profileHandler((name, worker, durationMs, progress) => s.profile(name, worker, durationMs, progress)),
      heapSnapshot: (r, progress, stream) => heapSnapshot(s, r, progress, stream),
      kill: async () => {
        const stopped = await this.drainAll('herd kill');
        // Answer first, then close the socket and leave.
        setImmediate(() => void this.shutdown().then(this.onKill));
        return { stopped };
      },
    };
  }
}

/** The hosts a fleet command goes to: those named (each must be in the registry), else every one that lists the app and is up. */
async function fleetTargets(fleet: FleetMember, app: string, named: readonly string[] | null): Promise<string[]> {
  const view = await fleet.status();
  if (!view.redis.ok) throw new HerdError('HERD_ERR_FLEET_UNSEEN', { url: view.redis.url, reason: view.redis.error ?? 'unknown' });
  if (named !== null) {
    for (const name of named) {
      const host = view.hosts.find((h) => h.name === name);
      if (!host) throw new HerdError('HERD_ERR_FLEET_COMMAND', { reason: `--host ${name}: no such host in the fleet (hosts: ${view.hosts.map((h) => h.name).join(', ') || 'none'})` });
      if (!host.online) throw new HerdError('HERD_ERR_FLEET_COMMAND', { reason: `--host ${name}: that host is down (last seen ${host.lastSeenS} s ago)` });
    }
    return [...named];
  }
  const hosts = view.hosts.filter((h) => h.online && h.apps.some((a) => a.name === app)).map((h) => h.name);
  if (hosts.length === 0) throw new HerdError('HERD_ERR_FLEET_COMMAND', { reason: `no host of the fleet that is up runs an app "${app}"` });
  return hosts;
}

/** A host that has not answered a dashboard fleet action by then is reported as timed out (the CLI's --timeout default). */
const DASHBOARD_FLEET_TIMEOUT_MS = 5 * 60_000;
/** How long `herd update` waits for operations in progress (a reload) to end. */
const UPDATE_IDLE_TIMEOUT_MS = 60_000;
/** After a hand-over: how long the old daemon lets requests in flight on its HTTP endpoints finish, at most. */
const HANDOVER_GRACE_MS = 2000;
/** ... and at least how long it stays, answering control connections it accepted that the CLI should retry. */
const HANDOVER_MIN_MS = 300;

/**
 * Shims a daemon that died left running (with their apps) are stopped, each
 * draining its workers, so the apps started again find their ports free;
 * taking them over instead is a later step.
 */
async function stopLeftover(paths: HerdPaths): Promise<void> {
  const stopped = await stopLeftShims(paths.run);
  if (stopped.length === 0) return;
  const names = stopped.map((s) => `${s.app} (shim pid ${s.pid})`).join(', ');
  console.error(`${new Date().toISOString()} daemon: stopped the shims a daemon that died left running: ${names}`);
}

function readPid(file: string): number | null {
  try {
    return Number(fs.readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
}

/**
 * A socket file left by a daemon that died is removed; a live one means another
 * supervisor owns this HERD_HOME.
 */
async function removeStaleSocket(socketPath: string, home: string): Promise<void> {
  if (!fs.existsSync(socketPath)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(socketPath);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new HerdError('HERD_ERR_DAEMON_RUNNING', { home });
  fs.rmSync(socketPath, { force: true });
}
