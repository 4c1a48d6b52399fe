/**
 * `herd fleet reload --drain` with HAProxy: a host is taken out of rotation
 * with the runtime API (`set server <backend>/<host> state drain`: no new
 * requests, those in flight finish), then watched until HAProxy shows it no
 * sessions and nothing queued (`scur` and `qcur` 0), and put back with
 * `state ready` after its reload. A server an operator had put in maint or
 * drain is reloaded where it is and left in that state. Server names are herd host names, as
 * `herd lb haproxy` writes them.
 */
import type { FleetLbSettings } from '../config/types';
import { HaproxyRuntime, type ServerState } from './haproxyRuntime';
import type { Balancer } from './rollout';

/** Where HAProxy's runtime API is when `fleet.lb.haproxy.socket` does not say (Debian's haproxy.cfg puts it there). */
export const DEFAULT_HAPROXY_SOCKET = '/run/haproxy/admin.sock';
/** A host that still has connections after this long is reloaded anyway (its reload drains its own workers too). */
const DRAIN_TIMEOUT_MS = 30_000;
const POLL_MS = 100;

/** The backend that holds an app's servers: `fleet.lb.haproxy.backend` as a string, its entry for the app, else the app's name. */
export function backendOf(lb: FleetLbSettings, app: string): string {
  const b = lb.haproxy.backend;
  if (typeof b === 'string') return b;
  return b?.[app] ?? app;
}

export class HaproxyBalancer implements Balancer {
  private readonly runtime: HaproxyRuntime;
  /** Each drained host's administrative state before the rollout touched it: put back as it was. */
  private readonly operatorState = new Map<string, ServerState>();

  constructor(
    lb: FleetLbSettings,
    private readonly backend: string,
    private readonly progress: (line: string) => void,
    private readonly drainTimeoutMs = DRAIN_TIMEOUT_MS,
  ) {
    this.runtime = new HaproxyRuntime(lb.haproxy.socket ?? DEFAULT_HAPROXY_SOCKET);
  }

  /** Fails before anything moves when HAProxy cannot be reached or has no such backend or server. */
  async check(hosts: readonly string[]): Promise<void> {
    const servers = await this.runtime.servers(this.backend);
    const missing = hosts.filter((h) => !servers.some((s) => s.name === h));
    if (missing.length > 0) {
      throw new Error(`HAProxy at ${this.runtime.address} has no server ${missing.map((h) => `${this.backend}/${h}`).join(', ')} (servers: ${servers.map((s) => s.name).join(', ') || 'none'}); \`herd lb haproxy <app> --sync\` adds them`);
    }
  }

  async drain(host: string): Promise<void> {
    // An operator's maint or drain is theirs: the host is out of rotation already, and stays so after its reload.
    const before = (await this.runtime.servers(this.backend)).find((s) => s.name === host)?.admin ?? 'ready';
    this.operatorState.set(host, before);
    if (before !== 'ready') {
      this.progress(`${host}: already in ${before} in HAProxy (${this.backend}/${host}, set by an operator); reloading it there and leaving it in ${before}`);
      return;
    }
    await this.runtime.setState(this.backend, host, 'drain');
    const started = Date.now();
    for (;;) {
      const server = (await this.runtime.servers(this.backend)).find((s) => s.name === host);
      if (!server || (server.scur === 0 && server.qcur === 0)) {
        this.progress(`${host}: drained in HAProxy (${this.backend}/${host}: no sessions, none queued) after ${Date.now() - started} ms`);
        return;
      }
      if (Date.now() - started > this.drainTimeoutMs) {
        this.progress(`${host}: still ${server.scur} session(s) and ${server.qcur} queued after ${Math.round(this.drainTimeoutMs / 1000)} s; reloading anyway (its workers drain their own connections)`);
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  async ready(host: string): Promise<void> {
    const before = this.operatorState.get(host) ?? 'ready';
    this.operatorState.delete(host);
    if (before !== 'ready') return;
    await this.runtime.setState(this.backend, host, 'ready');
  }
}
