import * as os from 'node:os';
import type { AppDetail } from '../protocol/control';
import type { AppSpec, CliOverrides } from '../config/types';
import { loadTarget, type LoadResult } from '../config/load';
import { stringFlag, type ParsedArgs } from './args';

function cleanEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

export function overridesFrom(args: ParsedArgs): CliOverrides {
  const overrides: { name?: string; instances?: string; args?: string[] } = {};
  const name = stringFlag(args, 'name');
  const instances = stringFlag(args, 'instances');
  if (name !== undefined) overrides.name = name;
  if (instances !== undefined) overrides.instances = instances;
  if (args.rest.length > 0) overrides.args = args.rest;
  return overrides;
}

/** Build the specs for `start`/`run` from the command line, in the CLI's environment. */
export function specsFromArgs(target: string, args: ParsedArgs): Promise<LoadResult> {
  const only = stringFlag(args, 'only');
  return loadTarget(target, {
    cwd: process.cwd(),
    env: cleanEnv(process.env),
    envName: stringFlag(args, 'env') ?? null,
    overrides: overridesFrom(args),
    ...(only !== undefined ? { only: only.split(',').map((s) => s.trim()).filter(Boolean) } : {}),
    interpreter: process.execPath,
    cpus: os.availableParallelism(),
  });
}

/**
 * For `herd reload <name>`: re-read the app's config file from disk so config
 * changes apply. The environment stays the one captured at start unless
 * --update-env asks for the CLI's current one.
 */
export async function specsForReload(apps: AppDetail[], args: ParsedArgs): Promise<{ specs: AppSpec[]; warnings: string[] }> {
  const specs: AppSpec[] = [];
  const warnings: string[] = [];
  for (const app of apps) {
    if (!app.configFile) continue;
    const result = await loadTarget(app.configFile, {
      cwd: app.cwd,
      env: args.flags['update-env'] === true ? cleanEnv(process.env) : app.env,
      envName: stringFlag(args, 'env') ?? app.envName,
      overrides: {},
      only: [app.name],
      interpreter: app.interpreter,
      cpus: os.availableParallelism(),
    });
    specs.push(...result.specs);
    warnings.push(...result.warnings);
  }
  return { specs, warnings };
}
