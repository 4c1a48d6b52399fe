import { toErrorData } from '../errors';
import type { HostOutcome } from '../fleet/commandSender';
import type { RolloutReport } from '../fleet/rollout';
import type { FleetView } from '../fleet/status';
import type { FleetActionLine, FleetActionName, FleetPageView } from './apiTypes';

/**
 * What the dashboard's fleet page calls: the daemon's own fleet operations
 * (the same as `herd fleet ...`), passed in as functions so the dashboard
 * loads neither the Redis client nor the fleet member.
 */
export interface DashboardFleet {
  /** Null while this host has joined no fleet (it may join later, with `herd start <config>`). */
  status(): Promise<FleetView | null>;
  command(verb: Exclude<FleetActionName, 'reload'>, app: string, count: string | null, hosts: string[] | null, progress: (line: string) => void): Promise<HostOutcome[]>;
  reload(app: string, o: { hosts: string[] | null; batch: number; settleMs: number }, progress: (line: string) => void): Promise<RolloutReport>;
}

export const NO_FLEET_HINT = 'add `fleet: { redis, host, secret }` to the config file and run `herd start <config>` (see docs/fleet.md)';

/** The most hosts a dashboard rollout reloads at once, and the longest it watches each. */
const MAX_BATCH = 64;
const MAX_SETTLE_S = 600;
/** Host names as the config allows them. */
const HOST_NAME = /^[A-Za-z0-9._-]{1,63}$/;

export async function fleetPageView(fleet: DashboardFleet | null): Promise<FleetPageView> {
  const view = fleet === null ? null : await fleet.status();
  return view === null ? { joined: false, hint: NO_FLEET_HINT } : { joined: true, fleet: view };
}

export interface FleetActionRequest {
  action: FleetActionName;
  app: string;
  hosts: string[] | null;
  count: string | null;
  batch: number;
  settleMs: number;
}

/** The body of a fleet action checked; a string says what is wrong with it. */
export function fleetActionRequest(action: FleetActionName, app: string, body: Record<string, unknown>): FleetActionRequest | string {
  const { host, count, batch = 1, settleS = 0 } = body;
  if (host !== undefined && (typeof host !== 'string' || !HOST_NAME.test(host))) return '"host" must be a host name of the fleet';
  const counted = typeof count === 'string' || typeof count === 'number' ? String(count) : null;
  if (action === 'scale' && counted === null) return 'scale needs { "count": N, "+N" or "-N" }';
  if (typeof batch !== 'number' || !Number.isInteger(batch) || batch < 1 || batch > MAX_BATCH) return `"batch" must be a whole number from 1 to ${MAX_BATCH}`;
  if (typeof settleS !== 'number' || !Number.isFinite(settleS) || settleS < 0 || settleS > MAX_SETTLE_S) return `"settleS" must be seconds from 0 to ${MAX_SETTLE_S}`;
  return { action, app, hosts: host === undefined ? null : [host], count: counted, batch, settleMs: Math.round(settleS * 1000) };
}

/** Runs it, sending each host's progress, then what the hosts answered (or the report), then the result. */
export async function runFleetAction(fleet: DashboardFleet, r: FleetActionRequest, send: (line: FleetActionLine) => void): Promise<void> {
  const progress = (message: string) => send({ kind: 'progress', message });
  const where = r.hosts === null ? 'the fleet' : r.hosts.join(', ');
  try {
    if (r.action === 'reload') {
      const report = await fleet.reload(r.app, { hosts: r.hosts, batch: r.batch, settleMs: r.settleMs }, progress);
      send({ kind: 'report', report });
      const reloaded = report.hosts.filter((h) => h.state === 'reloaded').length;
      send(report.ok
        ? { kind: 'result', ok: true, message: `reloaded ${r.app} on ${reloaded} host(s) of ${where}` }
        : { kind: 'result', ok: false, message: `the rolling reload of ${r.app} stopped: ${report.stopped ?? 'unknown'}` });
      return;
    }
    const results = await fleet.command(r.action, r.app, r.count, r.hosts, progress);
    send({ kind: 'hosts', results });
    const failed = results.filter((o) => !o.ok);
    const verb = r.action === 'scale' ? `scale ${r.app} to ${r.count}` : `${r.action} ${r.app}`;
    send(failed.length === 0
      ? { kind: 'result', ok: true, message: `${verb}: done on ${results.length} host(s) of ${where}` }
      : { kind: 'result', ok: false, message: `${verb}: failed on ${failed.map((o) => o.host).join(', ')}` });
  } catch (err) {
    send({ kind: 'error', error: toErrorData(err) });
  }
}
