import type { AppSpec } from '../../config/types';
import type { SpawnPlan } from '../../protocol/shim';
import { runAsFor } from './runAs';
import { ACCESS_FD, workerCommand } from './workerCommand';

/** What the app's host spawns for worker `uniqueId` of `slot`: computed here, so the host need not read the spec. */
export function spawnPlan(spec: AppSpec, slot: number, uniqueId: number): SpawnPlan {
  // As the app's `user` when it has one: resolved and checked when the app started or reloaded (runAs.ts).
  const command = workerCommand(spec, slot, uniqueId, runAsFor(spec));
  return {
    app: spec.name,
    file: command.file,
    args: command.args,
    env: command.env,
    cwd: spec.cwd,
    stdio: command.stdio,
    hasAgent: command.agent,
    inheritForkSockets: spec.execMode === 'fork' && spec.runner === 'node',
    accessFd: command.stdio[ACCESS_FD] === 'pipe' ? ACCESS_FD : null,
    readiness: { waitReady: spec.waitReady, watchListening: !command.agent, listenTimeout: spec.listenTimeout },
    maxLineLength: spec.logs.maxLineLength,
    killTimeout: spec.killTimeout,
  };
}
