import { HerdError } from '../errors';
import type { HaproxyRuntime } from './haproxyRuntime';
import { hostPort, SERVER_WEIGHT, type LbTargets } from './lbConfig';

/**
 * One pass of `herd lb haproxy --sync`: the servers of a running HAProxy's
 * backend brought in step with the registry through the runtime API,
 * without a reload.
 *
 *  - a host that is up and serves the app, and has no server: added
 *    (`add server`, `enable health`, `enable server`);
 *  - a server whose address or port is not the host's any more: replaced;
 *  - a server whose host is gone: put in maint, then deleted once its
 *    sessions are over (HAProxy deletes only such a server). Gone means the
 *    registry no longer lists the host, or lists it up without the app. A
 *    host that is down (its registration expired: a crash, a network cut,
 *    `herd kill`) is not gone: its server stays and HAProxy's health check
 *    marks it DOWN until it comes back. The registry forgets a host after a
 *    day without a heartbeat; then its server goes.
 *
 * Servers are never drained or readied here otherwise: an operator's (or a
 * rolling reload's) drain of a host that is still in the fleet is left alone.
 */

export interface SyncChange {
  action: 'added' | 'replaced' | 'removed' | 'draining' | 'kept';
  server: string;
  /** What the line says after the server's name. */
  detail: string;
}

export class LbSync {
  /** Servers put in maint to be removed, whose sessions were not over yet: each pass tries again. */
  private readonly leaving = new Set<string>();

  constructor(private readonly runtime: HaproxyRuntime, private readonly backend: string, private readonly waitMs: number) {}

  /** `targets`: the app's servers from the registry now; `listed`: every host the registry lists (up or down). */
  async pass(targets: LbTargets, listed: readonly { name: string; online: boolean }[]): Promise<SyncChange[]> {
    const changes: SyncChange[] = [];
    const current = new Map((await this.runtime.servers(this.backend)).map((s) => [s.name, s]));
    for (const want of targets.servers) {
      const address = hostPort(want.address, want.port);
      const have = current.get(want.name);
      const add = async () => this.runtime.addServer(this.backend, want.name, want.address, want.port, {
        // Always checked: the backend's `option httpchk` (or a TCP connect without one), on herd's health port for /ready.
        check: want.checkPort === null ? {} : { port: want.checkPort },
        weight: SERVER_WEIGHT,
      });
      if (have === undefined) {
        await add();
        changes.push({ action: 'added', server: want.name, detail: `${address}${want.checkPort === null ? '' : ` (check port ${want.checkPort})`}` });
      } else if (have.address !== address) {
        if (!(await this.remove(want.name, changes, 'replaced by a new address once its sessions are over'))) continue;
        await add();
        changes.push({ action: 'replaced', server: want.name, detail: `${have.address ?? '?'} -> ${address}` });
      } else if (this.leaving.has(want.name)) {
        // It was leaving and came back before its sessions ended.
        this.leaving.delete(want.name);
        await this.runtime.setState(this.backend, want.name, 'ready');
        changes.push({ action: 'kept', server: want.name, detail: `${address} is back in the registry: ready again` });
      }
    }
    const wanted = new Set(targets.servers.map((s) => s.name));
    const down = new Set(listed.filter((h) => !h.online).map((h) => h.name));
    for (const name of current.keys()) {
      if (wanted.has(name) || down.has(name)) continue;
      await this.remove(name, changes);
    }
    return changes;
  }

  /** maint, then `del server` when its sessions are over (within waitMs); false while it still has some. */
  private async remove(name: string, changes: SyncChange[], replacing?: string): Promise<boolean> {
    try {
      await this.runtime.delServer(this.backend, name, { waitMs: this.waitMs });
    } catch (err) {
      if (!(err instanceof HerdError && err.code === 'HERD_ERR_HAPROXY_BUSY')) throw err;
      if (!this.leaving.has(name)) changes.push({ action: 'draining', server: name, detail: `in maint, ${replacing ?? 'deleted once its sessions are over'}` });
      this.leaving.add(name);
      return false;
    }
    this.leaving.delete(name);
    if (replacing === undefined) changes.push({ action: 'removed', server: name, detail: 'gone from the registry' });
    return true;
  }
}
