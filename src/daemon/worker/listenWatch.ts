import { formatAddress, listeningSockets, processTable, socketInodes, treeOf, type ProcessEntry } from './procNet';

/** How often a starting worker without the agent is looked at. */
export const LISTEN_POLL_MS = 100;
/**
 * A worker that does not listen counts as ready after this long without a
 * sign of still starting up (queue consumers, cron workers). The agent uses
 * the same second for fork-mode Node apps.
 */
export const SETTLE_MS = 1000;
/** More CPU than this (clock ticks per poll, 100 a second) means it is still starting (loading code). */
const BUSY_TICKS = 2;

/** Addresses the process tree of `root` listens on (`127.0.0.1:3000`, `[::]:8080`), from /proc. */
export async function treeListening(root: number, table?: readonly ProcessEntry[]): Promise<string[]> {
  const tree = treeOf(root, table ?? await processTable());
  const inodes = new Set<number>();
  for (const set of await Promise.all(tree.map((p) => socketInodes(p.pid)))) for (const inode of set) inodes.add(inode);
  if (inodes.size === 0) return [];
  const found = (await listeningSockets()).filter((s) => inodes.has(s.inode)).map(formatAddress);
  return [...new Set(found)];
}

export interface ListenWatchEvents {
  /** The tree listens on these addresses (called once, when they first appear). */
  listening(addresses: string[]): void;
  /** SETTLE_MS passed with no listening socket, no new process in the tree and little CPU: a worker that does not listen. */
  settled(): void;
}

/**
 * Readiness of a worker without herd's agent (python3, a shell script, npm):
 * it is ready when a TCP socket held by the worker or any of its descendants
 * is listening. Polls while the worker starts and stops once it listens or
 * `timeoutMs` passed (the app's listenTimeout).
 *
 * "Settled" is not a plain second after spawn: npm -> sh -> node on a busy
 * machine takes longer than that to listen. The second counts from the last
 * sign of start-up work: a process added to the tree, or CPU used.
 */
export class ListenWatch {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly deadline: number;
  private quietSince = Date.now();
  private lastPids = '';
  private lastTicks = -1;
  private settledSent = false;

  constructor(private readonly pid: number, timeoutMs: number, private readonly events: ListenWatchEvents) {
    this.deadline = Date.now() + timeoutMs;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.poll(), ms);
  }

  private async poll(): Promise<void> {
    this.timer = null;
    const table = await processTable();
    const tree = treeOf(this.pid, table);
    const addresses = tree.length > 0 ? await treeListening(this.pid, table) : [];
    if (this.stopped) return;
    if (addresses.length > 0) {
      this.stop();
      this.events.listening(addresses);
      return;
    }
    const now = Date.now();
    const pids = tree.map((p) => p.pid).sort((a, b) => a - b).join(',');
    const ticks = tree.reduce((n, p) => n + p.cpuTicks, 0);
    if (pids !== this.lastPids || (this.lastTicks >= 0 && ticks - this.lastTicks > BUSY_TICKS)) this.quietSince = now;
    this.lastPids = pids;
    this.lastTicks = ticks;
    if (!this.settledSent && now - this.quietSince >= SETTLE_MS) {
      this.settledSent = true;
      this.events.settled();
    }
    if (now >= this.deadline) {
      this.stop();
      return;
    }
    this.schedule(LISTEN_POLL_MS);
  }
}
