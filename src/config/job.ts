/**
 * The app key `cron`: the app is a job, whose script runs to completion at
 * each tick of the schedule (docs/config.md#jobs). PM2 reads `cron` as an
 * alias of `cron_restart`; herd does not (docs/pm2.md#cron). The schedule is
 * checked with croner, loaded only when some app sets `cron`; `timezone`
 * with the runtime's IANA zone database.
 */
import { show, type Report, type Setting } from './report';
import type { JobSpec } from './types';
import { loadCroner } from '../util/croner';

/** The daemon's own zone, which a job without `timezone` runs in (outside a fleet). */
export function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export function readJob(cron: Setting, timezone: Setting, r: Report): JobSpec | null {
  const zone = readTimezone(timezone, r);
  if (cron === undefined || cron.value === null) {
    if (timezone !== undefined && timezone.value !== null) r.warn(timezone.key, 'applies to a job (`cron`) only; ignored');
    return null;
  }
  if (typeof cron.value !== 'string' || cron.value.trim() === '') {
    r.problem(cron.key, `must be a cron expression like '*/5 * * * *' (5 fields, or 6 with seconds first); got ${show(cron.value)}`);
    return null;
  }
  const schedule = cron.value.trim();
  const problem = scheduleProblem(schedule, zone ?? undefined);
  if (problem !== null) {
    r.problem(cron.key, `not a cron expression: ${problem}`);
    return null;
  }
  return { schedule, timezone: zone ?? null, fleet: false };
}

function readTimezone(s: Setting, r: Report): string | null | undefined {
  if (s === undefined || s.value === null) return undefined;
  if (typeof s.value === 'string' && timezoneValid(s.value)) return s.value;
  r.problem(s.key, `must be an IANA time zone name like 'Europe/Berlin' or 'UTC'; got ${show(s.value)}`);
  return undefined;
}

/** An IANA name the runtime knows (Intl throws a RangeError on any other). */
export function timezoneValid(zone: string): boolean {
  if (zone.trim() === '') return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function scheduleProblem(expression: string, timezone: string | undefined): string | null {
  const { Cron } = loadCroner();
  try {
    new Cron(expression, { paused: true, timezone }).stop();
    return null;
  } catch (err) {
    return (err instanceof Error ? err.message : String(err)).replace(/^CronPattern: /, '');
  }
}
