import type { AppSpec } from '../../config/types';
import type { TriggerDetail } from '../../protocol/control';
import { CronReload, type ScheduleFactory } from './cronReload';
import { isNullPath } from '../../logs/logFiles';
import type { ReloadTarget } from './reloadTarget';
import { WatchReload } from './watchReload';

export interface ReloadTriggersOptions {
  /** herd's own log directory and HERD_HOME: never watched. */
  ignoreDirs: readonly string[];
  /** For tests: schedules without croner. */
  schedules?: ScheduleFactory;
}

/**
 * The reloads the daemon starts by itself for one app: `cronRestart` and
 * `watch`. They are armed while the app runs (or is being started, restarted,
 * reloaded), disarmed once it is stopped or deleted, and re-armed when a
 * reload brings a spec with another schedule or other watch settings; all of
 * it follows the app's own change notifications, so App needs no hook.
 */
export class ReloadTriggers {
  private cron: CronReload | null = null;
  private watch: WatchReload | null = null;
  private watchKey = '';
  private readonly off: () => void;

  constructor(private readonly app: ReloadTarget, private readonly opts: ReloadTriggersOptions) {
    this.off = app.onChange(() => this.sync());
    this.sync();
  }

  detail(): TriggerDetail {
    const spec = this.app.spec;
    return {
      cron: spec.cronRestart ? { schedule: spec.cronRestart, next: this.cron?.next() ?? null } : null,
      watch: spec.watch
        ? { paths: [...spec.watch.paths], watching: this.watch?.watching ?? false, directories: this.watch?.directories ?? 0, delay: spec.watch.delay }
        : null,
      logFiles: { ...spec.logFiles },
    };
  }

  close(): void {
    this.off();
    this.cron?.stop();
    this.cron = null;
    this.watch?.close();
    this.watch = null;
    this.watchKey = '';
  }

  private sync(): void {
    const app = this.app;
    // Stopping is an operation too: the triggers go once the app has stopped.
    const active = !app.stopped || app.busy !== null;
    const spec = app.spec;
    const schedule = active ? spec.cronRestart : null;
    if ((this.cron?.expression ?? null) !== schedule) {
      this.cron?.stop();
      this.cron = null;
      try {
        if (schedule) this.cron = new CronReload(app, schedule, this.opts.schedules);
      } catch (err) {
        // Checked before the app started (checkCronSchedule); this only guards the app's notifications.
        app.note(`cron reload not armed: ${(err as Error).message}`);
      }
    }
    const key = active && spec.watch ? JSON.stringify([spec.watch, spec.cwd, spec.logFiles]) : '';
    if (key !== this.watchKey) {
      this.watch?.close();
      this.watch = null;
      this.watchKey = key;
      if (spec.watch && key !== '') {
        const watch = new WatchReload(app, spec.watch, spec.cwd, { exact: this.opts.ignoreDirs, logFiles: logPaths(spec) });
        this.watch = watch;
        watch.start().catch((err: unknown) => app.note(`watch: ${(err as Error).message}`));
      }
    }
  }
}

function logPaths(spec: AppSpec): string[] {
  const { out, err, combined } = spec.logFiles;
  return [out, err, combined].filter((p): p is string => p !== null && !isNullPath(p));
}
