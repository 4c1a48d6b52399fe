import { processTable } from './procNet';

/**
 * A worker is spawned `detached`, so it leads a process group of its own
 * (its pgid is its pid) and everything it starts stays in that group unless
 * it moves itself out: npm -> sh -> node, bash -> node. Signals meant for the
 * worker go to the whole group, so no grandchild is left behind holding the
 * port or the log pipes.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    // ESRCH: nobody left in the group.
    return false;
  }
}

/** Whether any member of the group is still running (zombies have exited; they only wait to be reaped). */
export async function groupAlive(pgid: number): Promise<boolean> {
  if (!signalGroup(pgid, 0)) return false;
  const table = await processTable();
  return table.some((p) => p.pgrp === pgid && p.state !== 'Z');
}

const POLL_MS = 100;

/** Resolves true when the group is empty, false when `deadline` (ms since epoch) passed first. */
export async function waitGroupGone(pgid: number, deadline: number): Promise<boolean> {
  for (;;) {
    if (!(await groupAlive(pgid))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
  }
}
