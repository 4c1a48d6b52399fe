import type { WireHistogram } from '../metrics/histogram';

/** One app on one host, as the host publishes it each second. */
export interface FleetApp {
  name: string;
  status: string;
  /** Worker slots, and those online. */
  workers: number;
  online: number;
  /**
   * The code its workers run: its code on disk when it last started,
   * restarted or reloaded. A revision is the git commit of its cwd (12 hex,
   * `-dirty` when changed), else a content hash (`sha256:` + 12 hex).
   */
  revision: string;
  /** The code on disk now (a deploy copied but not reloaded yet shows here first). */
  disk: string;
  /** Over the last 10 s. */
  rps: number;
  p99: number;
  errorRate: number;
  /** % of one core, and RSS bytes, over its workers. */
  cpu: number;
  memory: number;
  /** The last 10 s of request latency, for fleet percentiles from merged buckets (never averaged). */
  latency: WireHistogram;
  /** The TCP ports its workers listen on now (what `herd describe` shows), ascending: where a load balancer sends its traffic. */
  ports: number[];
  /** The path of its per-worker health check (`healthCheck.path`), or null: a load balancer's check when the host publishes no health endpoint. */
  healthPath: string | null;
}

/** What a host publishes under its registration key. */
export interface HostSummary {
  name: string;
  address: string;
  version: string;
  pid: number;
  /** Epoch ms of this summary. */
  at: number;
  /** herd's /ready and /live endpoint on this host (config key `health`), as bound; null when off. */
  health: { host: string; port: number } | null;
  apps: FleetApp[];
}

/** What the daemon gives the fleet member each second (the member adds the revision). */
export interface LocalApp extends Omit<FleetApp, 'revision' | 'disk'> {
  cwd: string;
  script: string;
}
