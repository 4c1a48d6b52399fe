import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { HerdError } from '../errors';
import { HERD_VERSION, PROTOCOL_VERSION } from '../protocol/version';
import { DEFAULTS, type DaemonSettings } from '../config/types';
import { DashboardServer } from '../dashboard/server';
import { ensureHome, type HerdPaths } from '../util/paths';
import { stopLeftShims } from '../shim/leftShims';
import { parseSignal } from '../util/signals';
import type { HealthEndpointSpec } from '../config/types';
import { ControlServer, type HandlerTable } from './control/controlServer';
import { HealthEndpoint } from './http/healthEndpoint';
import type { LogSink } from '../logs/logSink';
import { PrometheusServer } from './http/prometheusServer';
import { Supervisor, type HostFactory } from './supervision/supervisor';
import { resurrect, saveDump } from './state/dump';
import { restartedReason, StateKeeper } from './state/stateKeeper';
import { writeFileAtomicSync } from '../util/atomicWrite';
import { adoptShims } from './state/adoption';
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

  constructor(private readonly paths: HerdPaths, private readonly logs: LogSink, private readonly onKill: () => void, private readonly options: DaemonOptions = {}) {
    this.supervisor = new Supervisor(logs, options.hosts);
    const note = (line: string) => console.log(`${new Date().toISOString()} herd: ${line}`);
    this.state = options.keepState === true ? new StateKeeper(paths.stateFile, () => this.supervisor.savedApps(), note) : null;
    this.supervisor.onAppsChanged(() => this.state?.changed());
    this.prometheus = new PrometheusServer(() => this.supervisor.prometheus());
    this.control = new ControlServer(this.handlers());
    this.health = new HealthEndpoint(this.supervisor);
    this.dashboard = new DashboardServer({
      source: this.supervisor,
      actions: this.supervisor,
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

  async listen(): Promise<void> {
    ensureHome(this.paths);
    await removeStaleSocket(this.paths.socket, this.paths.home);
    const { apps, previous } = this.state?.load() ?? { apps: [], previous: null };
    // The bound socket is the lock: no other daemon adopts the same shims. Requests wait until the apps are listed.
    await this.control.listen(this.paths.socket);
    let listed!: () => void;
    this.control.holdUntil(new Promise<void>((resolve) => (listed = resolve)));
    try {
      const adopted = new Set<string>();
      if (this.options.shims) {
        // Apps a daemon that died left serving under their shims are taken over, workers and all.
        const why = previous === null ? 'the last daemon left no state' : `the last daemon, pid ${previous.pid}, did not shut down`;
        const result = await adoptShims(this.paths.run, this.options.shims, this.supervisor, apps, why);
        for (const a of result.adopted) adopted.add(a.app);
        const say = (line: string) => console.error(`${new Date().toISOString()} daemon: ${line}`);
        for (const a of result.adopted) say(`adopted ${a.app} from shim pid ${a.shim}: workers ${a.workers.join(', ') || 'none'}`);
        for (const problem of result.problems) say(problem);
      } else {
        // `herd run`: shims a dead daemon left hold their apps' ports; they drain and end before this one starts any.
        await stopLeftover(this.paths);
      }
      // The rest of the list the last daemon kept is listed again, stopped, waiting for `herd resurrect`.
      if (this.state) this.supervisor.remember(apps.filter((a) => !adopted.has(a.name)), restartedReason(this.state.startedAt, previous));
      writeFileAtomicSync(this.paths.pidFile, `${process.pid}\n`);
      this.state?.begin();
    } finally {
      listed();
    }
  }

  /** Drain every app, then close the socket. Safe to call more than once. `by` is recorded in state.json. */
  shutdown(by = 'shutdown'): Promise<string[]> {
    this.stopping ??= (async () => {
      const names = await this.drainAll(by);
      this.endFollowers();
      await this.prometheus.close();
      await this.dashboard.close();
      await this.control.close();
      await this.health.close();
      fs.rmSync(this.paths.pidFile, { force: true });
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
      // Both are tried even when one fails; the first failure is reported.
      const results = await Promise.allSettled([
        settings.prometheus ? this.prometheus.configure(settings.prometheus) : Promise.resolve(null),
        settings.dashboard ? this.dashboard.configure(settings.dashboard) : Promise.resolve(null),
      ]);
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
    return { prometheus: this.prometheus.address, dashboard: this.dashboard.url };
  }

  /** `herd dashboard`: serve it (where it already serves, unless told otherwise) and answer its URL. */
  private async serveDashboard(port: number | null, host: string | null): Promise<{ url: string }> {
    const current = this.dashboard.settings;
    const url = await this.dashboard.configure({
      port: port ?? current?.port ?? DEFAULTS.dashboard.port,
      host: host ?? current?.host ?? DEFAULTS.dashboard.host,
      token: current?.token ?? null,
    });
    return { url };
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
        const [apps, endpoints] = await Promise.allSettled([s.start(r.apps), this.configure(r.settings)]);
        if (apps.status === 'rejected') throw apps.reason;
        if (endpoints.status === 'rejected') throw endpoints.reason;
        return { ...apps.value, ...endpoints.value };
      },
      stop: async (r) => ({ names: await s.stop(r.target) }),
      restart: async (r) => ({ names: await s.restartWith(r.target, r.specs ?? null) }),
      reload: async (r, progress) => ({ names: await s.reload(r.target, r.specs, progress) }),
      delete: async (r) => ({ names: await s.delete(r.target) }),
      startApp: async (r) => s.startListed(r.target),
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
      kill: async () => {
        const stopped = await this.drainAll('herd kill');
        // Answer first, then close the socket and leave.
        setImmediate(() => void this.shutdown().then(this.onKill));
        return { stopped };
      },
    };
  }
}

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
