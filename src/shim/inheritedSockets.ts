import type { SpawnPlan } from '../protocol/shim';

/** A listening socket a fork-mode worker takes over from the one before it. */
export interface InheritedSocket {
  readonly key: string;
  readonly fd: number;
}

/**
 * The plan's stdio and environment with the fork-mode socket copies added:
 * as fds after the access-log pipe (5 on), named in HERD_LISTEN_FDS for the
 * agent to hand to the app's listen() (see forkSockets.ts).
 */
export function withInherited(plan: SpawnPlan, inherited: readonly InheritedSocket[]): { stdio: ('ignore' | 'pipe' | 'ipc' | number)[]; env: Record<string, string> } {
  if (inherited.length === 0) return { stdio: plan.stdio, env: plan.env };
  const stdio: ('ignore' | 'pipe' | 'ipc' | number)[] = [...plan.stdio];
  const first = Math.max(stdio.length, 5);
  while (stdio.length < first) stdio.push('ignore');
  for (const s of inherited) stdio.push(s.fd);
  const env = { ...plan.env, HERD_LISTEN_FDS: JSON.stringify(inherited.map((s, i) => ({ key: s.key, fd: first + i }))) };
  return { stdio, env };
}
