import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HerdError } from '../errors';
import { diffSummaries, diffText } from '../heap/heapDiff';
import { summarizeSnapshot } from '../heap/snapshotSummary';
import type { HeapSnapshotResult } from '../protocol/heap';
import { formatBytes, parseDuration } from '../util/units';
import { stringFlag, usage, type ParsedArgs } from './args';
import { EXIT, printJson } from './output';
import { one, progressPrinter, withClient } from './session';

/**
 * `herd heap <app> [--worker N] [--out FILE] [--force] [--json]`: a heap
 * snapshot of one worker, written here as it streams from the daemon.
 * `--diff 60s`: two snapshots that far apart and the constructors that
 * grew between them. The file is written 0600 under a temporary name and
 * given its name once whole (a hard link: an existing file of that name is
 * never overwritten), so a half file never looks like a snapshot.
 */

const MAX_DIFF_MS = 60 * 60_000;

interface Written {
  file: string;
  bytes: number;
  result: HeapSnapshotResult;
  /** When the snapshot was asked for (epoch ms). */
  startedAt: number;
}

export async function heapCommand(args: ParsedArgs): Promise<number> {
  const name = one(args, 'app name');
  const workerFlag = stringFlag(args, 'worker');
  if (workerFlag !== undefined && !/^\d+$/.test(workerFlag)) throw usage(`heap: --worker ${workerFlag}: a worker id is a whole number (herd list shows them)`);
  const worker = workerFlag === undefined ? null : Number(workerFlag);
  if (args.flags.out === true) throw usage('heap: --out needs a file name');
  const out = stringFlag(args, 'out');
  const diffFlag = stringFlag(args, 'diff');
  const diffMs = diffFlag === undefined ? null : parseDuration(diffFlag);
  if (diffFlag !== undefined && (diffMs === null || diffMs < 1 || diffMs > MAX_DIFF_MS)) {
    throw usage(`heap: --diff ${diffFlag}: a duration between 1ms and 1h, like 30s or 5m`);
  }
  const force = args.flags.force === true;
  const json = args.flags.json === true;
  const progress = progressPrinter(args);

  if (diffMs === null) {
    const target = out === undefined ? null : path.resolve(out);
    if (target !== null) checkDestination(path.dirname(target), 'heap: --out');
    if (target !== null && lexists(target)) throw usage(`heap: --out ${out}: ${target} exists already; herd does not overwrite it`);
    else checkDestination(process.cwd(), 'heap: the current directory');
    const written = target === null
      ? await snapshotTo(process.cwd(), defaultName, name, worker, force, progress)
      : await snapshotTo(path.dirname(target), () => path.basename(target), name, worker, force, progress);
    if (json) printJson({ file: written.file, bytes: written.bytes, ...written.result });
    else process.stdout.write(`${summaryLine(written)}\n`);
    return EXIT.ok;
  }

  // --diff: both files kept in --out (a directory) when given, else in a private temporary one removed after.
  const keep = out === undefined ? null : path.resolve(out);
  if (keep !== null) {
    if (fs.existsSync(keep) && !fs.statSync(keep).isDirectory()) throw usage(`heap: --out ${out}: with --diff, --out names a directory for both snapshots`);
    checkDestination(fs.existsSync(keep) ? keep : path.dirname(keep), 'heap: --out');
    fs.mkdirSync(keep, { recursive: true, mode: 0o700 });
  }
  const dir = keep ?? fs.mkdtempSync(path.join(os.tmpdir(), 'herd-heap-'));
  try {
    const first = await snapshotTo(dir, defaultName, name, worker, force, progress);
    progress(`${summaryLine(first)}; the next in ${diffFlag}`);
    await new Promise((resolve) => setTimeout(resolve, diffMs));
    const second = await snapshotTo(dir, defaultName, name, first.result.worker, force, progress);
    progress(summaryLine(second));
    if (second.result.pid !== first.result.pid) {
      process.stderr.write(`herd: heap --diff: ${first.result.app}[${first.result.worker}] restarted between the snapshots (pid ${first.result.pid}, then ${second.result.pid}): a new process is not growth; no diff\n`);
      return EXIT.failed;
    }
    const [before, after] = await Promise.all([summarizeSnapshot(first.file), summarizeSnapshot(second.file)]);
    const diff = diffSummaries(before, after, second.startedAt - first.startedAt);
    if (json) {
      printJson({ app: first.result.app, worker: first.result.worker, files: keep ? [first.file, second.file] : null, snapshots: [first.result, second.result], diff });
    } else {
      process.stdout.write(`${diffText(diff)}\n`);
      if (keep) process.stdout.write(`snapshots kept: ${first.file}, ${second.file}\n`);
    }
    return EXIT.ok;
  } finally {
    if (keep === null) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** `api-w1-20261202-123456.heapsnapshot`: app, worker and local time. */
export function defaultName(result: Pick<HeapSnapshotResult, 'app' | 'worker'>, at: number): string {
  const d = new Date(at);
  const two = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getFullYear()}${two(d.getMonth() + 1)}${two(d.getDate())}-${two(d.getHours())}${two(d.getMinutes())}${two(d.getSeconds())}`;
  return `${result.app.replace(/[^\w.-]/g, '_')}-w${result.worker}-${stamp}.heapsnapshot`;
}

function lexists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

function checkDestination(dir: string, what: string): void {
  if (!fs.existsSync(dir)) throw usage(`${what}: there is no directory ${dir}`);
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw usage(`${what}: cannot write in ${dir}`);
  }
}

function summaryLine(w: Written): string {
  const r = w.result;
  const rotation = r.rotation?.out
    ? `out of rotation meanwhile (${r.rotation.closedIdle} idle keep-alive connection(s) closed, ${r.rotation.answeredWithClose} answered with Connection: close` +
      `${r.rotation.open > 0 ? `, ${r.rotation.open} waited` : ''})`
    : 'not out of rotation';
  return `wrote ${w.file} (${formatBytes(w.bytes)}): ${r.app}[${r.worker}] pid ${r.pid} was paused ${r.pauseMs} ms, ${rotation}`;
}

/**
 * Give the whole temporary file its name: a hard link, which never replaces
 * an existing file (nor follows a symlink of that name). A default name that
 * is taken (two snapshots in one second) gets -2, -3...; a name given with
 * --out that is taken is an error.
 */
function place(temp: string, dir: string, base: string, unique: boolean, r: HeapSnapshotResult): string {
  for (let n = 1; ; n++) {
    const file = path.join(dir, n === 1 ? base : base.replace(/\.heapsnapshot$/, `-${n}.heapsnapshot`));
    try {
      fs.linkSync(temp, file);
      fs.rmSync(temp, { force: true });
      return file;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !unique || n >= 100) {
        throw new HerdError('HERD_ERR_HEAP_SNAPSHOT', { name: r.app, worker: r.worker, reason: (err as NodeJS.ErrnoException).code === 'EEXIST' ? `${file} exists already; it was not overwritten` : (err as Error).message });
      }
    }
  }
}

/**
 * One snapshot into `dir`, named by `nameFor` once the daemon said which
 * worker it took: streamed into a temporary file there, renamed once the
 * daemon says it sent all of it and all of it arrived; removed on any
 * failure or Ctrl-C.
 */
async function snapshotTo(
  dir: string, nameFor: (r: HeapSnapshotResult, at: number) => string, name: string, worker: number | null, force: boolean,
  progress: (message: string) => void,
): Promise<Written> {
  const startedAt = Date.now();
  const temp = path.join(dir, `.herd-heap-${process.pid}-${startedAt}.partial`);
  const fd = fs.openSync(temp, 'wx', 0o600);
  let open = true;
  let chars = 0;
  let bytes = 0;
  const discard = () => {
    if (open) fs.closeSync(fd);
    open = false;
    fs.rmSync(temp, { force: true });
  };
  const onSigint = () => {
    discard();
    process.stderr.write('herd: heap snapshot interrupted; no file was written\n');
    process.exit(130);
  };
  process.once('SIGINT', onSigint);
  try {
    const result = await withClient((c) => c.request({ type: 'heapSnapshot', name, worker, force }, progress, undefined, (data) => {
      // Synchronous: while the disk takes a piece, nothing more is read from
      // the daemon, whose sending then waits (bounded there, see snapshotStream).
      chars += data.length;
      bytes += fs.writeSync(fd, data);
    }));
    if (chars !== result.chars) {
      throw new HerdError('HERD_ERR_HEAP_SNAPSHOT', { name, worker: result.worker, reason: `${chars} of ${result.chars} characters arrived` });
    }
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    open = false;
    const file = place(temp, dir, nameFor(result, startedAt), nameFor === defaultName, result);
    return { file, bytes, result, startedAt };
  } catch (err) {
    discard();
    if (err instanceof HerdError) err.details.push('no file was written');
    throw err;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
