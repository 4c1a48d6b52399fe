import * as fs from 'node:fs';
import * as net from 'node:net';
import { HerdError } from '../errors';
import { HERD_VERSION, PROTOCOL_VERSION } from '../protocol/version';
import type { DaemonSettings } from '../config/types';
import { ensureHome, type HerdPaths } from '../util/paths';
import type { HealthEndpointSpec } from '../config/types';
import { ControlServer, type HandlerTable } from './controlServer';
import { HealthEndpoint } from './healthEndpoint';
import type { LogSink } from './logSink';
import { PrometheusServer } from './prometheusServer';
import { Supervisor } from './supervisor';

/**
 * A supervisor with its control socket: the background daemon, and `herd run`
 * in the foreground, are both this.
 */
export class Daemon {
  readonly supervisor: Supervisor;
  private readonly control: ControlServer;
  private readonly health: HealthEndpoint;
  private readonly prometheus: PrometheusServer;
  private stopping: Promise<string[]> | null = null;
  private endFollowers: () => void = () => {};
  /** Resolves when the daemon shuts down, ending `herd logs --follow` streams. */
  private readonly closing = new Promise<void>((resolve) => (this.endFollowers = resolve));
  private draining: Promise<string[]> | null = null;

  constructor(private readonly paths: HerdPaths, private readonly logs: LogSink, private readonly onKill: () => void) {
    this.supervisor = new Supervisor(logs);
    this.prometheus = new PrometheusServer(() => this.supervisor.prometheus());
    this.control = new ControlServer(this.handlers());
    this.health = new HealthEndpoint(this.supervisor);
  }

  /** Serve /ready and /live as the config's top-level `health` says. */
  configureHealth(spec: HealthEndpointSpec | null | undefined): Promise<void> {
    return spec ? this.health.configure(spec) : Promise.resolve();
  }

  /**
   * /ready turns 503, then after `health.shutdownDelay` (time for load
   * balancers to notice) every app drains. Safe to call more than once.
   */
  private drainAll(): Promise<string[]> {
    this.draining ??= (async () => {
      this.health.beginShutdown();
      const delay = this.health.shutdownDelay;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      return this.supervisor.shutdown();
    })();
    return this.draining;
  }

  async listen(): Promise<void> {
    ensureHome(this.paths);
    await removeStaleSocket(this.paths.socket, this.paths.home);
    await this.control.listen(this.paths.socket);
    fs.writeFileSync(this.paths.pidFile, `${process.pid}\n`, { mode: 0o600 });
  }

  /** Drain every app, then close the socket. Safe to call more than once. */
  shutdown(): Promise<string[]> {
    this.stopping ??= (async () => {
      const names = await this.drainAll();
      this.endFollowers();
      await this.prometheus.close();
      await this.control.close();
      await this.health.close();
      fs.rmSync(this.paths.pidFile, { force: true });
      return names;
    })();
    return this.stopping;
  }

  /**
   * Apply a config file's daemon settings (the Prometheus endpoint). Null
   * means the target was a script: the settings stay as they are.
   */
  async configure(settings: DaemonSettings | null | undefined): Promise<string | null> {
    if (settings === null || settings === undefined) return this.prometheus.address;
    this.supervisor.alerts.configure(settings.alerts ?? null);
    return this.prometheus.configure(settings.prometheus);
  }

  private handlers(): HandlerTable {
    const s = this.supervisor;
    return {
      hello: async () => ({ protocol: PROTOCOL_VERSION, version: HERD_VERSION, pid: process.pid, home: this.paths.home }),
      start: async (r) => {
        await this.configureHealth(r.settings?.health);
        // Both run even when one fails: apps start whatever happens to the endpoint.
        const [apps, prometheus] = await Promise.allSettled([s.start(r.apps), this.configure(r.settings)]);
        if (apps.status === 'rejected') throw apps.reason;
        if (prometheus.status === 'rejected') throw prometheus.reason;
        return { ...apps.value, prometheus: prometheus.value };
      },
      stop: async (r) => ({ names: await s.stop(r.target) }),
      restart: async (r) => ({ names: await s.restart(r.target) }),
      reload: async (r, progress) => ({ names: await s.reload(r.target, r.specs, progress) }),
      delete: async (r) => ({ names: await s.delete(r.target) }),
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
        progress('following');
        await Promise.race([stream.closed, this.closing]);
        off();
        return { skipped };
      },
      flush: async (r) => ({ names: await this.logs.flush(r.target === 'all' ? null : r.target) }),
      metrics: async (r) => s.metrics(r.name, r.worker),
      monit: async () => s.monit(),
      alerts: async () => s.alerts.view(),
      kill: async () => {
        const stopped = await this.drainAll();
        // Answer first, then close the socket and leave.
        setImmediate(() => void this.shutdown().then(this.onKill));
        return { stopped };
      },
    };
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
