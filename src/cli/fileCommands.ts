/**
 * PM2's `startOrReload <file>` / `startOrRestart <file>` (and `herd reload
 * <file>` / `herd restart <file>`, which PM2 treats the same): the file's
 * apps that do not run are started, the ones that run are reloaded or
 * restarted with the file re-read.
 */
import { isConfigFile } from '../config/load';
import type { AppDetail } from '../protocol/control';
import { usage, type ParsedArgs } from './args';
import { EXIT, printJson, printWarnings } from './output';
import { listedDetails, one, progressPrinter, withClient, type Command } from './session';
import { specsForFile } from './specs';

export type FileAction = 'reload' | 'restart';

const DONE: Record<FileAction, string> = { reload: 'reloaded', restart: 'restarted' };

/** True when `target` names a config file rather than an app (an app of that name wins). */
export function isFileTarget(target: string, listed: readonly AppDetail[]): boolean {
  return isConfigFile(target) && !listed.some((a) => a.name === target);
}

export async function actOnFile(action: FileAction, file: string, args: ParsedArgs, listed: readonly AppDetail[]): Promise<number> {
  const { start, running, settings, warnings } = await specsForFile(file, args, listed);
  printWarnings(warnings);
  return withClient(async (client) => {
    const print = progressPrinter(args);
    let started: string[] = [];
    if (start.length > 0 || settings !== null) {
      if (running.length > 0 && start.length > 0) print(`${start.map((s) => s.name).join(', ')}: not running; starting`);
      const result = await client.request({ type: 'start', apps: start, settings });
      printWarnings(result.warnings ?? []);
      started = result.started;
      for (const name of started) print(`started ${name}`);
    }
    const acted: string[] = [];
    for (const spec of running) {
      const { names } = action === 'reload'
        ? await client.request({ type: 'reload', target: spec.name, specs: [spec] }, print)
        : await client.request({ type: 'restart', target: spec.name, specs: [spec] }, print);
      acted.push(...names);
      for (const name of names) print(`${DONE[action]} ${name}`);
    }
    if (args.flags.json === true) printJson({ started, [DONE[action]]: acted });
    return EXIT.ok;
  }, true);
}

const startOr = (action: FileAction): Command => async (args) => {
  const file = one(args, 'config file');
  if (!isConfigFile(file)) throw usage(`${args.command} takes a config file (ecosystem.config.js, herd.config.js, *.json); got "${file}"`);
  return actOnFile(action, file, args, await listedDetails());
};

export const startOrReload = startOr('reload');
export const startOrRestart = startOr('restart');
