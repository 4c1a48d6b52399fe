import type { JobView } from '../protocol/control';
import { jobLines } from './format';
import { EXIT, printJson } from './output';
import { withClient, type Command } from './session';

/** `herd jobs [--json]`: every job's schedule, next tick, last runs and skipped ticks. */
export const jobs: Command = async (args) => {
  const view = await withClient((c) => c.request({ type: 'jobs' }));
  if (args.flags.json === true) printJson(view);
  else process.stdout.write(`${jobsText(view.jobs)}\n`);
  return EXIT.ok;
};

export function jobsText(list: readonly JobView[]): string {
  if (list.length === 0) return 'no jobs; an app with `cron: \'*/5 * * * *\'` in its config is one (docs/config.md#jobs)';
  return list.map((j) => jobLines(j).join('\n')).join('\n\n');
}
