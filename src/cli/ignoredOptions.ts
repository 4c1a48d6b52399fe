import * as os from 'node:os';
import { isConfigFile } from '../config/load';
import { stringFlag, type ParsedArgs } from './args';

/**
 * `herd start` of an app that runs already changes nothing, and `herd start
 * <name>` starts a stopped app as it was: every option that would have
 * shaped it is named as ignored, with the command that does apply it. (PM2
 * users type `start -i 4` again expecting 4 workers.)
 */
export function ignoredOptions(args: ParsedArgs, name: string, target: string, state: 'running' | 'restarted'): string[] {
  const why = state === 'running' ? `${name} is already running` : `${name} was started as it was`;
  const out: string[] = [];
  const instances = stringFlag(args, 'instances');
  if (instances !== undefined) {
    const count = instances.trim() === 'max' || instances.trim() === '-1' ? String(os.availableParallelism()) : instances.trim();
    out.push(`-i ${instances} ignored: ${why}; to change its number of workers: herd scale ${name} ${count}`);
  }
  const envName = stringFlag(args, 'env');
  // A script has no env sections: the loader says so already.
  if (envName !== undefined && isConfigFile(target)) out.push(`--env ${envName} ignored: ${why}; to apply it: herd reload ${name} --env ${envName}`);
  const shaping = [
    stringFlag(args, 'node-args') !== undefined ? '--node-args' : null,
    args.flags.watch === true ? '--watch' : null,
    stringFlag(args, 'max-memory-restart') !== undefined ? '--max-memory-restart' : null,
    stringFlag(args, 'exec-mode') !== undefined ? '--exec-mode' : null,
    args.flags['execute-command'] === true ? '-x' : null,
    args.rest.length > 0 ? 'the app arguments after --' : null,
  ].filter((f): f is string => f !== null);
  if (shaping.length > 0) {
    const apply = isConfigFile(target)
      ? `herd startOrReload ${target} with the same options (a rolling reload)`
      : `herd delete ${name}, then herd start again`;
    out.push(`${shaping.join(', ')} ignored: ${why}, with the options it was first started with; to apply them: ${apply}`);
  }
  return out;
}
