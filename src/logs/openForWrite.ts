import * as fs from 'node:fs';

/** O_WRONLY | O_RDWR: the access mode bits of an open file's flags. */
const ACCESS_MODE = 0o3;

/**
 * The files that `pids`, or processes under them, hold open for writing:
 * found through /proc/<pid>/fd (which file) and /proc/<pid>/fdinfo (the open
 * flags). A watched app that writes its own data or log file in its
 * directory must not reload itself on every write. `relevant` limits the
 * flags read to paths that matter (the watched trees). Processes that are
 * gone or not ours are skipped.
 */
export async function filesHeldForWriting(pids: readonly number[], relevant: (file: string) => boolean = () => true): Promise<Set<string>> {
  const held = new Set<string>();
  for (const pid of await withDescendants(pids)) await collect(pid, relevant, held);
  return held;
}

async function collect(pid: number, relevant: (file: string) => boolean, held: Set<string>): Promise<void> {
  let fds: string[];
  try {
    fds = await fs.promises.readdir(`/proc/${pid}/fd`);
  } catch {
    return;
  }
  const targets = await Promise.all(fds.map((fd) => fs.promises.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  await Promise.all(targets.map(async (target, i) => {
    // Sockets, pipes and anonymous inodes read as 'socket:[123]' and the like.
    if (!target.startsWith('/') || held.has(target) || !relevant(target)) return;
    const info = await fs.promises.readFile(`/proc/${pid}/fdinfo/${fds[i]}`, 'utf8').catch(() => '');
    const flags = /^flags:\s+([0-7]+)$/m.exec(info)?.[1];
    if (flags !== undefined && (parseInt(flags, 8) & ACCESS_MODE) !== 0) held.add(target);
  }));
}

/** The pids and their children, grandchildren... (an npm script's node, a shell's program). */
async function withDescendants(pids: readonly number[]): Promise<number[]> {
  const seen = new Set<number>();
  let level = [...pids];
  while (level.length > 0 && seen.size < 1024) {
    const next: number[] = [];
    for (const pid of level) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      next.push(...(await children(pid)));
    }
    level = next;
  }
  return [...seen];
}

async function children(pid: number): Promise<number[]> {
  let tasks: string[];
  try {
    tasks = await fs.promises.readdir(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const lists = await Promise.all(tasks.map((t) => fs.promises.readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '')));
  return lists.flatMap((l) => l.split(/\s+/).filter(Boolean).map(Number));
}
