import * as fs from 'node:fs';
import * as path from 'node:path';
import { HerdClient } from '../client/client';
import { HerdError } from '../errors';
import { flameHtml } from '../profile/flameHtml';
import { topFunctions, type CpuProfile, type TopFunction } from '../profile/cpuProfile';
import { MAX_PROFILE_MS, MIN_PROFILE_MS, type ProfileResult } from '../protocol/profile';
import { formatDuration, parseDuration } from '../util/units';
import { stringFlag, usage, type ParsedArgs } from './args';
import { EXIT, printJson } from './output';
import { one, type Command, withClient } from './session';

const DEFAULT_MS = 10_000;
const TOP = 10;

export interface ProfileArgs {
  name: string;
  worker: number | 'all' | null;
  durationMs: number;
  outDir: string;
}

/** The command line of `herd profile`, checked before the daemon is asked anything. */
export function profileArgs(args: ParsedArgs, cwd = process.cwd()): ProfileArgs {
  const name = one(args, 'app name');
  const workerFlag = stringFlag(args, 'worker');
  if (args.flags.worker === true) throw usage('profile: --worker takes a worker id or all');
  let worker: ProfileArgs['worker'] = null;
  if (workerFlag !== undefined) {
    if (workerFlag === 'all') worker = 'all';
    else if (/^\d+$/.test(workerFlag)) worker = Number(workerFlag);
    else throw usage(`profile: --worker takes a worker id (a number) or all; got "${workerFlag}"`);
  }
  const durationFlag = stringFlag(args, 'duration');
  let durationMs = DEFAULT_MS;
  if (durationFlag !== undefined) {
    // A bare number is seconds here, as in `--duration 10`; units as everywhere else.
    const parsed = /^\s*\d+(\.\d+)?\s*$/.test(durationFlag) ? Math.round(Number(durationFlag) * 1000) : parseDuration(durationFlag);
    if (parsed === null) throw usage(`profile: --duration takes a duration like 10s, 1m or 500ms; got "${durationFlag}"`);
    if (parsed < MIN_PROFILE_MS || parsed > MAX_PROFILE_MS) {
      throw usage(`profile: --duration must be from ${MIN_PROFILE_MS}ms to ${formatDuration(MAX_PROFILE_MS)}; got "${durationFlag}"`);
    }
    durationMs = parsed;
  }
  const outFlag = stringFlag(args, 'out');
  if (args.flags.out === true) throw usage('profile: --out takes a directory');
  const outDir = path.resolve(cwd, outFlag ?? '.');
  let isDir = false;
  try {
    isDir = fs.statSync(outDir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw usage(`profile: --out: ${outDir} is not a directory`);
  return { name, worker, durationMs, outDir };
}

function stamp(at: number): string {
  const d = new Date(at);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** `<app>-w<id>-<local time>`: app, worker and time in the name, nothing a shell would trip on. */
export function profileBaseName(app: string, worker: number, at: number): string {
  return `${app.replace(/[^A-Za-z0-9._-]/g, '_')}-w${worker}-${stamp(at)}`;
}

export interface WrittenProfile {
  worker: number;
  pid: number | null;
  error: string | null;
  cpuprofile: string | null;
  html: string | null;
  samples: number;
  top: TopFunction[];
}

/** Private like everything herd writes: a profile names the app's files and functions. */
function writePrivate(file: string, data: string): void {
  // 'wx': an existing file of that name (or a symlink) is never overwritten.
  fs.writeFileSync(file, data, { mode: 0o600, flag: 'wx' });
}

/** Splits the chunks into the workers' profiles and writes a .cpuprofile and a flame-graph page for each. */
export function writeProfiles(result: ProfileResult, text: string, outDir: string): WrittenProfile[] {
  let at = 0;
  return result.profiles.map((p) => {
    const json = text.slice(at, at + p.chars);
    at += p.chars;
    if (p.error !== null || p.chars === 0) return { worker: p.worker, pid: p.pid, error: p.error ?? 'no profile', cpuprofile: null, html: null, samples: 0, top: [] };
    const profile = JSON.parse(json) as CpuProfile;
    const base = path.join(outDir, profileBaseName(result.name, p.worker, result.startedAt));
    writePrivate(`${base}.cpuprofile`, json);
    const title = `${result.name} worker ${p.worker}${p.pid === null ? '' : ` (pid ${p.pid})`}: ${formatDuration(result.durationMs)} CPU profile, ${new Date(result.startedAt).toISOString()}`;
    writePrivate(`${base}.html`, flameHtml(json, title));
    return { worker: p.worker, pid: p.pid, error: null, cpuprofile: `${base}.cpuprofile`, html: `${base}.html`, samples: profile.samples?.length ?? 0, top: topFunctions(profile, TOP) };
  });
}

export function topTable(top: readonly TopFunction[]): string {
  const rows = top.map((f) => [f.selfMs.toFixed(1), `${f.selfPct.toFixed(1)}%`, `${f.totalPct.toFixed(1)}%`, f.functionName, f.location]);
  const head = ['self ms', 'self', 'total', 'function', 'file:line'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padStart(widths[i] as number) : i === 4 ? c : c.padEnd(widths[i] as number))).join('  ');
  return [line(head), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

/** The app and the worker are arguments: not finding them is bad usage, exit 2, like a bad duration. */
function asUsage(err: unknown, args: ProfileArgs): unknown {
  if (!(err instanceof HerdError)) return err;
  if (err.code === 'HERD_ERR_APP_NOT_FOUND') return usage(`profile: <app>: ${err.message}`);
  if (err.code === 'HERD_ERR_WORKER_NOT_FOUND') return usage(`profile: --worker ${String(args.worker)}: ${err.message}`);
  return err;
}

export const profile: Command = async (args) => {
  const a = profileArgs(args);
  if (!(await HerdClient.checkDaemon())) throw usage(`profile: <app>: no app named "${a.name}" (no daemon is running)`);
  const json = args.flags.json === true;
  const pieces: string[] = [];
  let result: ProfileResult;
  try {
    result = await withClient((c) => c.request(
      { type: 'profile', name: a.name, worker: a.worker, durationMs: a.durationMs },
      (message) => (json ? undefined : process.stdout.write(`${message}\n`)),
      undefined,
      (data) => pieces.push(data),
    ));
  } catch (err) {
    throw asUsage(err, a);
  }
  const written = writeProfiles(result, pieces.join(''), a.outDir);
  const failed = written.filter((w) => w.error !== null);
  if (json) {
    printJson({ name: result.name, durationMs: result.durationMs, intervalUs: result.intervalUs, startedAt: result.startedAt, workers: written });
  } else {
    for (const w of written) {
      const who = `${result.name} worker ${w.worker}${w.pid === null ? '' : ` (pid ${w.pid})`}`;
      if (w.error !== null) {
        process.stderr.write(`herd: ${who}: no profile: ${w.error}\n`);
        continue;
      }
      process.stdout.write(`${who}: ${formatDuration(result.durationMs)}, ${w.samples} samples every ${result.intervalUs / 1000}ms\n`);
      process.stdout.write(`  ${w.cpuprofile}\n  ${w.html}\n`);
      process.stdout.write(`${topTable(w.top)}\n`);
    }
  }
  return failed.length > 0 ? EXIT.failed : EXIT.ok;
};
