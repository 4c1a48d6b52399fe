import { queueEnv } from '../../config/queue';
import type { AppSpec } from '../../config/types';
import { AGENT_INSPECT_ARGS } from '../../protocol/agent';
import { runAsCommand, type RunAs, type WorkerFiles } from './runAs';

const AGENT_PATH = require.resolve('../../agent/main');
/** fd of the access-log pipe in a worker (0-2 stdio, 3 IPC). */
export const ACCESS_FD = 4;

/** What to spawn for one worker of `spec`. */
export interface WorkerCommand {
  file: string;
  args: string[];
  env: Record<string, string>;
  stdio: ('ignore' | 'pipe' | 'ipc')[];
  /** The agent is preloaded: it drains, reports readiness and metrics over IPC. */
  agent: boolean;
}

/** Variables only herd's agent and Node's cluster code read; never passed to a worker without the agent. */
const AGENT_ENV = ['NODE_UNIQUE_ID', 'HERD_ACCESS_LOG', 'HERD_OVERLOAD', 'HERD_METRICS', 'HERD_LISTEN_FDS', 'NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE'];

/**
 * runner 'node': `interpreter --require agent nodeArgs script args` with an
 * IPC channel (and NODE_UNIQUE_ID in cluster mode). runner 'exec' (fork mode
 * only): `interpreter nodeArgs script args`, or `script args` when the
 * interpreter is '' (PM2's 'none'; npm, whose path is the script), with no
 * agent and no IPC: a python3 or npm process must not be handed Node's
 * cluster channel, and npm would pass it on to every node it runs.
 * With `runAs` (the app's `user`), either runs under setpriv as that user.
 */
export function workerCommand(spec: AppSpec, slot: number, uniqueId: number, runAs: RunAs | null = null): WorkerCommand {
  const command = baseCommand(spec, slot, uniqueId);
  return runAs === null ? command : { ...command, ...runAsCommand(runAs, command.file, command.args) };
}

/** What a worker of `spec` runs, reads and enters, for the check that its user can (see runAs.ts). */
export function workerFiles(spec: AppSpec): WorkerFiles {
  if (spec.runner === 'exec') {
    return spec.interpreter === ''
      ? { run: [{ path: spec.script, what: 'the app\'s script' }], read: [], cwd: spec.cwd }
      : { run: [{ path: spec.interpreter, what: 'the app\'s interpreter' }], read: [{ path: spec.script, what: 'the app\'s script' }], cwd: spec.cwd };
  }
  return {
    run: [{ path: spec.interpreter, what: 'node' }],
    read: [{ path: AGENT_PATH, what: "herd's agent, preloaded in every worker" }, { path: spec.script, what: "the app's script" }],
    cwd: spec.cwd,
  };
}

function baseCommand(spec: AppSpec, slot: number, uniqueId: number): WorkerCommand {
  const env: Record<string, string> = {
    ...spec.env,
    HERD_APP_NAME: spec.name,
    HERD_WORKER_ID: String(slot),
    // Read by the agent: with '0' it measures nothing.
    HERD_METRICS: spec.metrics === false ? '0' : '1',
    // PM2 sets these; apps use them to pick one instance for cron work.
    // The id goes only under PM2's instance_var, as PM2 does: an inherited
    // NODE_APP_INSTANCE would be some other process's id.
    [spec.instanceVar || 'NODE_APP_INSTANCE']: String(slot),
    name: spec.name,
    // A queue app's settings, which its own BullMQ Worker reads (docs/queues.md).
    ...queueEnv(spec.queue),
  };
  if ((spec.instanceVar || 'NODE_APP_INSTANCE') !== 'NODE_APP_INSTANCE') delete env.NODE_APP_INSTANCE;
  if (spec.runner === 'exec') {
    for (const key of AGENT_ENV) delete env[key];
    const [file, args] = spec.interpreter === ''
      ? [spec.script, [...spec.args]]
      : [spec.interpreter, [...spec.nodeArgs, spec.script, ...spec.args]];
    return { file, args, env, stdio: ['ignore', 'pipe', 'pipe'], agent: false };
  }
  if (spec.execMode === 'cluster') env.NODE_UNIQUE_ID = String(uniqueId);
  else delete env.NODE_UNIQUE_ID;
  // The agent writes access lines to this fd: a channel of their own, so they
  // never mix with the app's stdout and cost the IPC channel nothing.
  if (spec.accessLog) env.HERD_ACCESS_LOG = String(ACCESS_FD);
  else delete env.HERD_ACCESS_LOG;
  if (spec.overload) env.HERD_OVERLOAD = JSON.stringify(spec.overload);
  else delete env.HERD_OVERLOAD;
  // A stalled worker's stack and CPU profiles are read through the inspector,
  // which SIGUSR1 opens even while JS is blocked (see AGENT_INSPECT_ARGS).
  // Every agent worker gets the flags, stallTimeout or not: they open nothing
  // until herd asks (`herd profile` works on any worker). They must follow
  // `--require <agent>` directly: the agent takes them all out of
  // process.execArgv so that the app's own child processes do not inherit them.
  const inspect = AGENT_INSPECT_ARGS;
  // Fork mode: the sockets earlier workers listened on are the host's to
  // add (inheritedSockets.ts), as fds after the access-log pipe.
  delete env.HERD_LISTEN_FDS;
  const stdio: ('ignore' | 'pipe' | 'ipc')[] = ['ignore', 'pipe', 'pipe', 'ipc'];
  if (spec.accessLog) stdio.push('pipe');
  return {
    file: spec.interpreter,
    args: ['--require', AGENT_PATH, ...inspect, ...spec.nodeArgs, spec.script, ...spec.args],
    env,
    stdio,
    agent: true,
  };
}
