import * as fs from 'node:fs';

/** How often `herd run` as PID 1 counts the zombies it cannot reap (HERD_ZOMBIE_CHECK_MS: tests shorten it). */
const ZOMBIE_CHECK_MS = Number(process.env.HERD_ZOMBIE_CHECK_MS) > 0 ? Number(process.env.HERD_ZOMBIE_CHECK_MS) : 10_000;

/**
 * `herd run` as a container's PID 1 (no `--init`): every process orphaned
 * in the container is re-parented to it, and only PID 1 can reap them. Node
 * waits only for the children it spawned (libuv calls waitpid() per child,
 * never waitpid(-1)), and nothing in Node can make it wait for others: an
 * app whose children leave processes behind (`sh -c 'job &'`) fills the
 * process table with zombies. herd says so at start, and again whenever
 * the number of such zombies grows. Returns a function that stops the watch.
 */
export function watchAsInit(note: (message: string) => void, pid = process.pid): () => void {
  if (pid !== 1) return () => {};
  note('running as PID 1: herd reaps its own workers, but not processes that your apps\' children leave behind; '
    + 'only an init can (docker run --init, tini, or shareProcessNamespace in Kubernetes: docs/containers.md)');
  let reported = 0;
  let seen = new Set<number>();
  const timer = setInterval(() => {
    // A worker that has just exited is a zombie for the moment before libuv
    // reaps it; one still there at the next check is nobody's to reap.
    const now = orphanZombies(pid);
    const zombies = now.filter((z) => seen.has(z));
    seen = new Set(now);
    if (zombies.length > reported) {
      note(`${zombies.length} zombie process${zombies.length === 1 ? '' : 'es'} (pid ${zombies.slice(0, 5).join(', ')}${zombies.length > 5 ? ', ...' : ''}), `
        + 'left by your apps\' children, wait for an init to reap them: run the container with --init or tini (docs/containers.md)');
    }
    reported = Math.max(reported, zombies.length);
  }, ZOMBIE_CHECK_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** Zombies whose parent is `parent`. */
export function orphanZombies(parent: number, proc = '/proc'): number[] {
  const zombies: number[] = [];
  let entries: string[];
  try {
    entries = fs.readdirSync(proc);
  } catch {
    return zombies;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(`${proc}/${entry}/stat`);
    if (stat !== null && stat.state === 'Z' && stat.ppid === parent) zombies.push(Number(entry));
  }
  return zombies;
}

/** State and parent from /proc/PID/stat; the name may hold spaces and parentheses, so read after the last ')'. */
export function readStat(file: string): { state: string; ppid: number } | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const ppid = Number(fields[1]);
  return state === undefined || !Number.isInteger(ppid) ? null : { state, ppid };
}
