/**
 * The command line's settings on top of a script or config file (--name, -i,
 * --node-args, --watch, --max-memory-restart, --exec-mode, `-- args`), checked
 * once, with problems named by the flag.
 */
import { parseSize } from '../util/units';
import type { CliOverrides, ConfigProblem } from './types';
import { INSTANCES_RULE, parseExecMode, parseInstances, splitArgs, type InstancesSetting } from './readers';
import { show } from './report';

export interface ParsedOverrides {
  name?: string;
  instances?: InstancesSetting;
  args?: string[];
  nodeArgs?: string[];
  watch?: boolean;
  maxMemory?: number;
  execMode?: 'fork' | 'cluster';
}

export const FLAGS = {
  name: '--name',
  instances: '-i',
  args: '--',
  nodeArgs: '--node-args',
  watch: '--watch',
  maxMemory: '--max-memory-restart',
  execMode: '--exec-mode',
} as const satisfies Record<keyof CliOverrides, string>;

/** Per-app settings: with several apps selected they would be ambiguous. --watch applies to every app, as in PM2. */
export const SINGLE_APP: readonly (keyof CliOverrides)[] = ['name', 'instances', 'nodeArgs', 'maxMemory', 'execMode'];

export function parseOverrides(o: CliOverrides): { parsed: ParsedOverrides; problems: ConfigProblem[] } {
  const parsed: ParsedOverrides = {};
  const problems: ConfigProblem[] = [];
  const problem = (flag: keyof CliOverrides, message: string) => problems.push({ path: FLAGS[flag], message });
  if (o.name !== undefined) parsed.name = o.name;
  if (o.args !== undefined) parsed.args = [...o.args];
  if (o.watch !== undefined) parsed.watch = o.watch;
  if (o.instances !== undefined) {
    const setting = parseInstances(o.instances);
    if (setting === null) problem('instances', `${INSTANCES_RULE}; got ${show(o.instances)}`);
    else parsed.instances = setting;
  }
  if (o.nodeArgs !== undefined) {
    const args = splitArgs(o.nodeArgs);
    if (args === null) problem('nodeArgs', `a quote is not closed; got ${show(o.nodeArgs)}`);
    else parsed.nodeArgs = args;
  }
  if (o.maxMemory !== undefined) {
    const bytes = parseSize(o.maxMemory);
    if (bytes === null || bytes <= 0) problem('maxMemory', `must be a size like '512M' or '1G'; got ${show(o.maxMemory)}`);
    else parsed.maxMemory = bytes;
  }
  if (o.execMode !== undefined) {
    const mode = parseExecMode(o.execMode);
    if (mode === null) problem('execMode', `must be 'fork' or 'cluster'; got ${show(o.execMode)}`);
    else parsed.execMode = mode;
  }
  return { parsed, problems };
}

/** A copy, so freezing the spec does not freeze the caller's object; `herd reload` applies it again. */
export function copyOverrides(o: CliOverrides): CliOverrides {
  return {
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.instances !== undefined ? { instances: o.instances } : {}),
    ...(o.args !== undefined ? { args: [...o.args] } : {}),
    ...(o.nodeArgs !== undefined ? { nodeArgs: o.nodeArgs } : {}),
    ...(o.watch !== undefined ? { watch: o.watch } : {}),
    ...(o.maxMemory !== undefined ? { maxMemory: o.maxMemory } : {}),
    ...(o.execMode !== undefined ? { execMode: o.execMode } : {}),
  };
}
