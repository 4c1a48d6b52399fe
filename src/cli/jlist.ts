import type { AppDetail, WorkerInfo, WorkerStatus } from '../protocol/control';

/**
 * `herd jlist`: one entry per process in the shape of PM2's `pm2 jlist`, for
 * scripts written against PM2 (`jq '.[] | select(.name=="api") |
 * .pm2_env.status'`). Only the fields herd can fill truthfully; the
 * environment is left out (PM2 puts it in pm2_env, and jlist output is often
 * piped into logs): `herd env <name>` prints it. herd's own shape is
 * `herd list --json`; herd's statuses are under `herd`.
 */
export interface Pm2Process {
  /** The worker id within its app (herd has no global process ids): name and pm_id identify a process. Null for an app with no worker. */
  pm_id: number | null;
  name: string;
  /** 0 when no process runs, as in PM2. */
  pid: number;
  monit: { memory: number; cpu: number };
  pm2_env: {
    name: string;
    pm_id: number | null;
    status: Pm2Status;
    restart_time: number;
    /** Epoch ms the process started. */
    pm_uptime: number;
    created_at: number;
    exec_mode: 'cluster_mode' | 'fork_mode';
    instances: number;
    pm_cwd: string;
    pm_exec_path: string;
    node_args: string[];
    args: string[];
    NODE_APP_INSTANCE: number | null;
  };
  herd: { app: AppDetail['status']; worker: WorkerStatus | null; reason: string };
}

export type Pm2Status = 'online' | 'launching' | 'stopping' | 'stopped' | 'errored' | 'waiting restart';

const PM2_STATUS: Record<WorkerStatus, Pm2Status> = {
  starting: 'launching',
  online: 'online',
  draining: 'stopping',
  stopped: 'stopped',
  replacing: 'launching',
  backoff: 'waiting restart',
  held: 'errored',
};

export function pm2List(apps: readonly AppDetail[], now = Date.now()): Pm2Process[] {
  const out: Pm2Process[] = [];
  for (const app of apps) {
    if (app.workers.length === 0) out.push(entry(app, null, now));
    for (const w of app.workers) out.push(entry(app, w, now));
  }
  return out;
}

function entry(app: AppDetail, w: WorkerInfo | null, now: number): Pm2Process {
  const id = w?.id ?? null;
  return {
    pm_id: id,
    name: app.name,
    pid: w?.pid ?? 0,
    monit: { memory: w?.memory ?? 0, cpu: w?.cpu ?? 0 },
    pm2_env: {
      name: app.name,
      pm_id: id,
      status: w ? PM2_STATUS[w.status] : app.status === 'errored' ? 'errored' : 'stopped',
      restart_time: w?.restarts ?? 0,
      pm_uptime: now - (w?.uptimeMs ?? 0),
      created_at: app.createdAt,
      exec_mode: app.execMode === 'fork' ? 'fork_mode' : 'cluster_mode',
      instances: app.instances,
      pm_cwd: app.cwd,
      pm_exec_path: app.script,
      node_args: app.nodeArgs,
      args: app.args,
      NODE_APP_INSTANCE: id,
    },
    herd: { app: app.status, worker: w?.status ?? null, reason: w?.reason ?? app.reason },
  };
}
