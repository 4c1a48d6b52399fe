import Module from 'node:module';

/**
 * The BullMQ Workers of a queue app's worker process, so that a graceful
 * stop can close them (`worker.close()`: take no new job, wait for the
 * active ones to finish) before the process exits, without app code
 * (docs/queues.md). An app that closes its Worker on SIGTERM itself is
 * unaffected: close() is idempotent, and its handler still runs.
 *
 * The Workers are found by hooking the load of bullmq's worker module
 * (`bullmq/dist/{cjs,esm}/classes/worker.js`, wherever the app's
 * node_modules put it): a line appended to its source hands the Worker
 * class to the agent, which wraps `Worker.prototype.run` (every Worker runs,
 * by itself with `autorun` or when the app calls run()) to remember the
 * instance. Installed only in the workers of an app with a `queue` key.
 */

const CALLBACK = Symbol.for('herd.queueWorkers');
const PATCHED = Symbol.for('herd.queueWorkers.patched');
/** bullmq's own worker module, in any install layout (npm, pnpm's .pnpm/bullmq@x/node_modules/bullmq, Yarn). */
export const WORKER_MODULE = /[\\/]bullmq[\\/]dist[\\/](?:cjs|esm)[\\/]classes[\\/]worker\.js$/;
// Never throws into bullmq's module, whatever a later version calls its class.
const HANDOVER = `\n;try { globalThis[Symbol.for('herd.queueWorkers')]?.(typeof Worker === 'undefined' ? undefined : Worker); } catch {}\n`;

/** What the agent uses of a BullMQ Worker. */
export interface QueueWorker {
  close(force?: boolean): Promise<void>;
  readonly closed?: boolean;
  once?(event: 'closed', listener: () => void): unknown;
}

export interface CloseResult {
  /** Workers whose close() finished (their active jobs done) by the deadline. */
  closed: number;
  /** Workers still closing at the deadline (a job outran killTimeout). */
  pending: number;
}

export class QueueWorkers {
  private readonly workers = new Set<QueueWorker>();

  /** Remember every instance of this Worker class that runs. Safe to call with anything, and twice. */
  adopt(workerClass: unknown): void {
    const proto = (workerClass as { prototype?: Record<string | symbol, unknown> } | null)?.prototype;
    if (!proto || typeof proto.run !== 'function' || typeof proto.close !== 'function' || proto[PATCHED]) return;
    const run = proto.run as (...args: unknown[]) => unknown;
    const track = (w: QueueWorker) => this.track(w);
    proto.run = function run_(this: QueueWorker, ...args: unknown[]) {
      track(this);
      return run.apply(this, args);
    };
    proto[PATCHED] = true;
  }

  track(worker: QueueWorker): void {
    if (this.workers.has(worker) || worker.closed === true) return;
    this.workers.add(worker);
    worker.once?.('closed', () => this.workers.delete(worker));
  }

  get count(): number {
    return this.workers.size;
  }

  /** close() every Worker, waiting for their active jobs until `deadline`; null when there was none. */
  async closeAll(deadline: number): Promise<CloseResult | null> {
    const list = [...this.workers].filter((w) => w.closed !== true);
    if (list.length === 0) return null;
    let closed = 0;
    const all = Promise.all(list.map((w) => Promise.resolve().then(() => w.close()).then(() => void closed++, () => void closed++)));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
    await Promise.race([all, late]);
    clearTimeout(timer);
    return { closed, pending: list.length - closed };
  }
}

type LoadHook = (url: string, context: unknown, nextLoad: (url: string, context: unknown) => { source?: unknown; format?: unknown }) => { source?: unknown; format?: unknown };
type Compile = (this: unknown, content: string, filename: string, ...rest: unknown[]) => unknown;

/** Hook bullmq's loading so that `workers` learns of every Worker the app runs (see above). */
export function watchBullmq(workers: QueueWorkers): void {
  (globalThis as Record<symbol, unknown>)[CALLBACK] = (workerClass: unknown) => workers.adopt(workerClass);
  // CommonJS, which is what both require('bullmq') and import 'bullmq' load (its package.json has no
  // "exports": Node takes "main"): every loader, tsx's too, compiles a CommonJS file through
  // Module.prototype._compile, whatever it did to the source before.
  const proto = Module.prototype as unknown as { _compile: Compile };
  const compile = proto._compile;
  proto._compile = function compileWatched(this: unknown, content: string, filename: string, ...rest: unknown[]) {
    return compile.call(this, typeof content === 'string' && WORKER_MODULE.test(filename) ? `${content}${HANDOVER}` : content, filename, ...rest);
  };
  // bullmq's ES module build, when an app imports it by path: only module hooks see it (Node 22.15+, 23.5+).
  const registerHooks = (Module as unknown as { registerHooks?: (hooks: { load: LoadHook }) => unknown }).registerHooks;
  registerHooks?.({
    load: (url, context, nextLoad) => {
      const result = nextLoad(url, context);
      if (result.format !== 'module' || !WORKER_MODULE.test(url) || result.source == null) return result;
      return { ...result, source: `${typeof result.source === 'string' ? result.source : Buffer.from(result.source as Uint8Array).toString('utf8')}${HANDOVER}` };
    },
  });
}
