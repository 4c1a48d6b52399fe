import { Histogram } from '../metrics/histogram';
import type { FleetLbSettings } from '../config/types';
import type { HostSummary } from './types';

/** A host's registration lives this long unless renewed (every second): a host silent for longer is down. */
export const HOST_TTL_MS = 5000;

export interface FleetHostView {
  name: string;
  address: string;
  version: string;
  online: boolean;
  /** Why its summary was refused (not signed with the fleet's secret, or a field that cannot be what it says): the host then counts as down. */
  problem: string | null;
  /** Seconds since its last heartbeat. */
  lastSeenS: number;
  /** herd's /ready endpoint on the host (config key `health`), null when it has none (or the host is down). */
  health: { host: string; port: number } | null;
  apps: { name: string; status: string; workers: number; online: number; revision: string; disk: string; rps: number; p99: number; errorRate: number; cpu: number; memory: number; ports: number[]; healthPath: string | null }[];
}

export interface FleetAppTotal {
  name: string;
  /** Hosts that run it (online ones). */
  hosts: number;
  workers: number;
  online: number;
  /** The revisions the hosts run, each once. */
  revisions: string[];
  rps: number;
  /** From the hosts' latency buckets merged, never averaged. */
  p50: number;
  p99: number;
  errorRate: number;
  cpu: number;
  memory: number;
}

export interface FleetView {
  /** The Redis the view was read from (no password), and whether it could be read. */
  redis: { url: string; ok: boolean; error: string | null };
  /** This host's name. */
  self: string;
  /** This host's `fleet.lb` (the HAProxy runtime API and backends `herd lb` uses by default), null when not configured. */
  lb: FleetLbSettings | null;
  hosts: FleetHostView[];
  apps: FleetAppTotal[];
}

/**
 * The fleet as the registry shows it: each host with its last summary
 * (null when its registration expired: the host is down; or when it was
 * refused, with the problem) and when it was last seen; totals per app over the hosts that are up.
 */
export function fleetView(seen: readonly { name: string; lastSeen: number; summary: HostSummary | null; problem?: string | null }[], now: number): Omit<FleetView, 'redis' | 'self' | 'lb'> {
  const hosts: FleetHostView[] = seen.map(({ name, lastSeen, summary, problem }) => ({
    name,
    address: summary?.address ?? '',
    version: summary?.version ?? '',
    // Up while its registration key lives (Redis expires it): no comparison of two machines' clocks.
    online: summary !== null,
    problem: problem ?? null,
    lastSeenS: Math.max(0, Math.round((now - lastSeen) / 100) / 10),
    // Summaries of an older herd have neither: a balancer then checks TCP and has no port to use.
    health: summary?.health ?? null,
    apps: (summary?.apps ?? []).map(({ latency: _latency, ...app }) => ({ ...app, ports: app.ports ?? [], healthPath: app.healthPath ?? null })),
  })).sort((a, b) => a.name.localeCompare(b.name));
  const totals = new Map<string, FleetAppTotal & { latency: Histogram; requests: number; errors: number }>();
  for (const { summary } of seen) {
    if (summary === null) continue;
    for (const app of summary.apps) {
      let t = totals.get(app.name);
      if (!t) {
        t = { name: app.name, hosts: 0, workers: 0, online: 0, revisions: [], rps: 0, p50: 0, p99: 0, errorRate: 0, cpu: 0, memory: 0, latency: new Histogram(), requests: 0, errors: 0 };
        totals.set(app.name, t);
      }
      t.hosts++;
      t.workers += app.workers;
      t.online += app.online;
      if (!t.revisions.includes(app.revision)) t.revisions.push(app.revision);
      t.rps += app.rps;
      t.requests += app.rps;
      t.errors += app.rps * app.errorRate;
      t.cpu += app.cpu;
      t.memory += app.memory;
      t.latency.mergeWire(app.latency);
    }
  }
  const apps = [...totals.values()].map(({ latency, requests, errors, ...t }) => {
    const [p50, p99] = latency.percentiles([0.5, 0.99]);
    return { ...t, p50: p50 ?? 0, p99: p99 ?? 0, errorRate: requests > 0 ? errors / requests : 0 };
  }).sort((a, b) => a.name.localeCompare(b.name));
  return { hosts, apps };
}
