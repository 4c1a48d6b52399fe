import * as os from 'node:os';
import type { AppDetail } from '../protocol/control';
import type { AppSpec, CliOverrides, DaemonSettings } from '../config/types';
import { loadTarget, type LoadOptions, type LoadResult } from '../config/load';
import { stringFlag, usage, type ParsedArgs } from './args';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function cleanEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

const EXEC_MODES: Record<string, 'fork' | 'cluster'> = { fork: 'fork', cluster: 'cluster', fork_mode: 'fork', cluster_mode: 'cluster' };

/** --name, -i, --node-args, --watch, --max-memory-restart, -x / --exec-mode and `-- app args`, as given. */
export function overridesFrom(args: ParsedArgs): CliOverrides {
  const overrides: Mutable<CliOverrides> = {};
  const name = stringFlag(args, 'name');
  const instances = stringFlag(args, 'instances');
  const nodeArgs = stringFlag(args, 'node-args');
  const maxMemory = stringFlag(args, 'max-memory-restart');
  if (name !== undefined) overrides.name = name;
  if (instances !== undefined) overrides.instances = instances;
  if (nodeArgs !== undefined) overrides.nodeArgs = nodeArgs;
  if (maxMemory !== undefined) overrides.maxMemory = maxMemory;
  if (args.flags.watch === true) overrides.watch = true;
  const execMode = execModeFrom(args);
  if (execMode !== undefined) overrides.execMode = execMode;
  if (args.rest.length > 0) overrides.args = args.rest;
  return overrides;
}

function execModeFrom(args: ParsedArgs): 'fork' | 'cluster' | undefined {
  const given = stringFlag(args, 'exec-mode');
  const mode = given === undefined ? undefined : EXEC_MODES[given.trim().toLowerCase()];
  if (given !== undefined && mode === undefined) throw usage(`--exec-mode: expected fork or cluster; got "${given}"`);
  if (args.flags['execute-command'] === true) {
    if (mode === 'cluster') throw usage('-x (fork mode) and --exec-mode cluster exclude each other');
    return 'fork';
  }
  return mode;
}

function onlyFrom(args: ParsedArgs): string[] | undefined {
  const only = stringFlag(args, 'only');
  return only === undefined ? undefined : only.split(',').map((s) => s.trim()).filter(Boolean);
}

/** Build the specs for `start`/`run` from the command line, in the CLI's environment. */
export function specsFromArgs(target: string, args: ParsedArgs): Promise<LoadResult> {
  const only = onlyFrom(args);
  return loadTarget(target, {
    cwd: process.cwd(),
    env: cleanEnv(process.env),
    envName: stringFlag(args, 'env') ?? null,
    overrides: overridesFrom(args),
    ...(only !== undefined ? { only } : {}),
    interpreter: process.execPath,
    cpus: os.availableParallelism(),
  });
}

/**
 * For `herd reload|restart <name>`: re-read each app's config file from disk
 * so config changes apply, with the command-line overrides it was started
 * with. The environment stays the one captured at start unless --update-env
 * asks for the CLI's current one. An app started from a script has no file
 * to re-read; it gets a new spec only for --update-env (the same script and
 * options, the new environment); otherwise it keeps the one it has.
 */
export async function specsForApps(apps: readonly AppDetail[], args: ParsedArgs): Promise<{ specs: AppSpec[]; warnings: string[] }> {
  const updateEnv = args.flags['update-env'] === true;
  const specs: AppSpec[] = [];
  const warnings: string[] = [];
  for (const app of apps) {
    if (!app.configFile && !updateEnv) continue;
    const result = await loadTarget(app.configFile ?? app.script, reloadOptions(app, args));
    specs.push(...result.specs);
    warnings.push(...result.warnings);
  }
  return { specs, warnings };
}

function reloadOptions(app: AppDetail, args: ParsedArgs): LoadOptions {
  const { name, ...kept } = app.cliOverrides;
  const common = {
    cwd: app.cwd,
    env: args.flags['update-env'] === true ? cleanEnv(process.env) : app.env,
    envName: stringFlag(args, 'env') ?? app.envName,
    interpreter: app.interpreter,
    cpus: os.availableParallelism(),
  };
  if (!app.configFile) {
    // The same script, name, options and arguments; the number of workers it has now (after any scale).
    return { ...common, envName: stringFlag(args, 'env') ?? null, overrides: { ...kept, name: app.name, instances: String(app.instances), args: app.args } };
  }
  // Renamed at start (--name on a one-app file): the file knows it by another name.
  return name === undefined ? { ...common, overrides: kept, only: [app.name] } : { ...common, overrides: { ...kept, name } };
}

/** A config file's apps split by what `startOrReload`/`startOrRestart` does with them. */
export interface FileSpecs {
  /** Not listed, or stopped: started, in the CLI's environment (as `herd start <file>` would). */
  start: AppSpec[];
  /** Running: reloaded or restarted with the file re-read. */
  running: AppSpec[];
  settings: DaemonSettings | null;
  warnings: string[];
}

/**
 * For `herd startOrReload|startOrRestart <file>` (and `reload|restart <file>`):
 * the file is read once in the CLI's environment, which checks every app; an
 * app that runs is read again with the environment captured at its start
 * (its `env` from the file re-read over it), unless --update-env.
 */
export async function specsForFile(file: string, args: ParsedArgs, listed: readonly AppDetail[]): Promise<FileSpecs> {
  const first = await specsFromArgs(file, args);
  const out: FileSpecs = { start: [], running: [], settings: first.settings, warnings: [...first.warnings] };
  const only = onlyFrom(args);
  for (const spec of first.specs) {
    const app = listed.find((a) => a.name === spec.name);
    if (!app || app.status === 'stopped') {
      out.start.push(spec);
      continue;
    }
    if (args.flags['update-env'] === true) {
      out.running.push(spec);
      continue;
    }
    const again = await loadTarget(file, {
      cwd: process.cwd(),
      env: app.env,
      envName: stringFlag(args, 'env') ?? app.envName,
      overrides: overridesFrom(args),
      ...(only !== undefined ? { only } : {}),
      interpreter: process.execPath,
      cpus: os.availableParallelism(),
    });
    const mine = again.specs.find((s) => s.name === spec.name);
    if (mine) out.running.push(mine);
  }
  return out;
}
