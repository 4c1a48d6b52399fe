/**
 * PM2's `cron_restart`: checked with croner, the library PM2 itself uses, so
 * an expression PM2 accepts is accepted here. Croner is loaded only when an
 * app sets one.
 */
import { show, type Report, type Setting } from './report';
import { loadCroner } from '../util/croner';

export function readCronRestart(s: Setting, r: Report): string | null {
  if (s === undefined || s.value === null) return null;
  // PM2 (Common.sink.determineCron) reads 0 as "no cron restart".
  if (s.value === 0 || s.value === '0') return null;
  if (typeof s.value !== 'string' || s.value.trim() === '') {
    r.problem(s.key, `must be a cron expression like '0 3 * * *'; got ${show(s.value)}`);
    return null;
  }
  const expression = s.value.trim();
  const problem = cronProblem(expression);
  if (problem !== null) {
    r.problem(s.key, `not a cron expression: ${problem}`);
    return null;
  }
  return expression;
}

function cronProblem(expression: string): string | null {
  const { Cron } = loadCroner();
  try {
    // Without a function croner schedules nothing; stop() makes sure.
    new Cron(expression).stop();
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, '');
  }
}
