import cluster, { type Worker } from 'node:cluster';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * Apps that cluster themselves (`if (cluster.isPrimary) cluster.fork() else
 * listen()`).
 *
 * In fork mode the worker is a plain process, so the app's own cluster runs
 * as under plain node; the agent sees it through the cluster module's 'fork'
 * event and, when the worker is stopped, stops the app's cluster workers the
 * way Node's cluster does it gracefully (`worker.disconnect()`: each closes
 * its servers, finishes its requests and exits), before the primary exits.
 *
 * In cluster mode every herd worker is a cluster worker: `cluster.isPrimary`
 * is false, the app's primary branch never runs, and nothing it does there
 * can be observed. The one sign left is the app reading `cluster.isPrimary`
 * (or `isMaster`) from its entry script. The agent makes those two reads
 * observable with accessors that return the same value, on the cluster
 * module only, during start-up only (they are plain values again once the
 * entry script had its chance). That is less invasive and more reliable than
 * the alternatives: a scan of the app's source misses bundles and catches
 * comments; wrapping cluster.fork is impossible (a cluster worker has none).
 * Reads from libraries (loggers check isMaster) do not count: only a read
 * whose caller is the entry script itself does.
 */
/** Time for connections the primary accepted to reach a worker before the workers disconnect. */
const HANDOFF_GRACE_MS = 250;

export class SelfCluster {
  private reported = false;
  private forkedCount = 0;

  constructor(private readonly report: (how: string) => void, private readonly mainScript: string | undefined) {}

  /** The app forked cluster workers of its own (fork mode). */
  get forked(): boolean {
    return this.forkedCount > 0;
  }

  /** Fork mode: the app is a cluster primary if it wants to be; watch for its forks. */
  watchPrimary(): void {
    cluster.on('fork', () => {
      this.forkedCount++;
      if (this.reported) return;
      this.reported = true;
      this.report('forks its own cluster workers (cluster.fork())');
    });
  }

  /**
   * Cluster mode: note a read of cluster.isPrimary / isMaster by the entry
   * script until `restoreAfter` resolves, then put the plain values back.
   */
  watchWorker(restoreAfter: Promise<void>): void {
    const mod = cluster as unknown as Record<string, unknown>;
    const originals: [string, PropertyDescriptor][] = [];
    for (const name of ['isPrimary', 'isMaster']) {
      const original = Object.getOwnPropertyDescriptor(mod, name);
      if (!original || !original.configurable || !('value' in original)) continue;
      originals.push([name, original]);
      const value: unknown = original.value;
      Object.defineProperty(mod, name, {
        configurable: true,
        enumerable: original.enumerable,
        get: () => {
          this.onRead(name);
          return value;
        },
      });
    }
    void restoreAfter.then(() => {
      for (const [name, original] of originals) Object.defineProperty(mod, name, original);
    });
  }

  /**
   * Fork mode, on shutdown: disconnect every cluster worker of the app and
   * wait for it to exit; one still running at `deadline` gets SIGTERM (the
   * daemon's SIGKILL of the process group follows at killTimeout).
   */
  async stopWorkers(deadline: number): Promise<void> {
    if (!cluster.isPrimary || Object.keys(cluster.workers ?? {}).length === 0) return;
    // The primary's listening socket closed just now (the drain); a connection
    // it accepted a moment before may still be on its way to a worker, and a
    // worker that disconnects first has it closed unanswered.
    await new Promise((resolve) => setTimeout(resolve, Math.min(HANDOFF_GRACE_MS, Math.max(0, deadline - Date.now()))));
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead());
    await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        w.process.kill('SIGTERM');
        resolve();
      }, Math.max(0, deadline - Date.now()));
      w.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      if (w.isConnected()) w.disconnect();
    })));
  }

  private onRead(name: string): void {
    if (this.reported || !this.mainScript) return;
    const caller = callerFrame();
    if (!caller) return;
    const file = path.resolve(this.mainScript);
    const at = [file, pathToFileURL(file).href].map((f) => caller.indexOf(`${f}:`)).find((i) => i !== -1);
    if (at === undefined) return;
    this.reported = true;
    const line = /:(\d+):\d+\)?$/.exec(caller)?.[1];
    this.report(`${path.basename(file)}${line ? `:${line}` : ''} reads cluster.${name}`);
  }
}

/** The stack frame that read the property: past this file's own frames. */
function callerFrame(): string | undefined {
  const frames = (new Error().stack ?? '').split('\n').slice(1);
  return frames.find((f) => !f.includes(__filename));
}
