import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AppSpec } from '../../src/config/types';
import { checkCronSchedule, CronReload, type ScheduleFactory } from '../../src/daemon/reloads/cronReload';
import type { ReloadTarget } from '../../src/daemon/reloads/reloadTarget';
import { ReloadTriggers } from '../../src/daemon/reloads/reloadTriggers';
import '../../src/daemon/supervision/supervisor';

// Every daemon module is loaded by now (imports come first): none may have required croner.
const cronerLoaded = () => Object.keys(require.cache).some((f) => /[\\/]node_modules[\\/]croner[\\/]/.test(f));
const loadedWithSupervisor = cronerLoaded();

interface Fake extends ReloadTarget {
  spec: AppSpec;
  stopped: boolean;
  busy: string | null;
  notes: string[];
  reloads: number;
  release: (err?: Error) => void;
  changed: () => void;
}

function fakeApp(cronRestart: string | null): Fake {
  const listeners = new Set<() => void>();
  let pending: ((err?: Error) => void) | null = null;
  const app: Fake = {
    name: 'api',
    spec: { name: 'api', cwd: '/tmp', cronRestart, watch: null, logFiles: { out: null, err: null, combined: null } } as unknown as AppSpec,
    stopped: false,
    busy: null,
    notes: [],
    reloads: 0,
    note: (m) => app.notes.push(m),
    processes: () => [],
    onChange: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    reload: () => {
      app.reloads++;
      return new Promise<void>((resolve, reject) => {
        pending = (err) => (err ? reject(err) : resolve());
      });
    },
    release: (err) => {
      const p = pending;
      pending = null;
      p?.(err);
    },
    changed: () => {
      for (const fn of [...listeners]) fn();
    },
  };
  return app;
}

/** Schedules the test fires by hand. */
function manualSchedules() {
  const live = new Map<string, { fire: () => void; stopped: boolean }>();
  const factory: ScheduleFactory = (expression, fire) => {
    const entry = { fire, stopped: false };
    live.set(expression, entry);
    return { next: () => (entry.stopped ? null : 1_700_000_000_000), stop: () => (entry.stopped = true) };
  };
  return { factory, live };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('croner is loaded lazily', () => {
  test('the supervisor alone does not load it; a schedule check does', () => {
    assert.equal(loadedWithSupervisor, false);
    checkCronSchedule('api', '*/5 * * * *');
    assert.equal(cronerLoaded(), true);
  });
});

describe('checkCronSchedule', () => {
  test('5 and 6 fields pass; anything else names the app and the schedule', () => {
    checkCronSchedule('api', '0 3 * * *');
    checkCronSchedule('api', '*/2 * * * * *');
    assert.throws(() => checkCronSchedule('api', 'every tuesday'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'HERD_ERR_CRON_INVALID');
      assert.match(err.message, /^app "api": cron_restart "every tuesday" is not a cron schedule: /);
      return true;
    });
    assert.throws(() => checkCronSchedule('api', '61 * * * *'), /cron_restart "61 \* \* \* \*"/);
  });
});

describe('CronReload', () => {
  test('a run reloads with the current spec; one while any operation runs is skipped and noted', async () => {
    const app = fakeApp('* * * * * *');
    const { factory, live } = manualSchedules();
    const cron = new CronReload(app, '* * * * * *', factory);
    const fire = live.get('* * * * * *')?.fire as () => void;
    fire();
    assert.equal(app.reloads, 1);
    assert.match(app.notes[0] ?? '', /^cron reload at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    fire();
    assert.equal(app.reloads, 1, 'never overlaps its own reload');
    assert.match(app.notes[1] ?? '', /skipped: the previous cron reload in progress$/);
    app.release();
    await settle();
    app.busy = 'reloading';
    fire();
    assert.equal(app.reloads, 1, 'nor a `herd reload`');
    assert.match(app.notes[2] ?? '', /skipped: reloading in progress$/);
    app.busy = null;
    fire();
    assert.equal(app.reloads, 2);
    app.release(new Error('new worker crashed'));
    await settle();
    assert.equal(app.notes.at(-1), 'cron reload failed: new worker crashed');
    app.stopped = true;
    fire();
    assert.equal(app.reloads, 2, 'a stopped app is not reloaded');
    cron.stop();
    assert.equal(cron.next(), null);
  });
});

describe('ReloadTriggers', () => {
  test('armed while the app runs, disarmed once it stopped, re-armed by a spec with another schedule', () => {
    const app = fakeApp('0 3 * * *');
    app.stopped = true;
    const { factory, live } = manualSchedules();
    const triggers = new ReloadTriggers(app, { ignoreDirs: [], schedules: factory });
    assert.deepEqual(triggers.detail().cron, { schedule: '0 3 * * *', next: null }, 'not armed while stopped');
    // Starting: busy first, then running.
    app.busy = 'restarting';
    app.changed();
    app.stopped = false;
    app.busy = null;
    app.changed();
    assert.deepEqual(triggers.detail().cron, { schedule: '0 3 * * *', next: 1_700_000_000_000 });
    // Stopping: still armed while the stop runs (a run is skipped then), gone once stopped.
    app.busy = 'stopping';
    app.stopped = true;
    app.changed();
    assert.equal(live.get('0 3 * * *')?.stopped, false);
    app.busy = null;
    app.changed();
    assert.equal(live.get('0 3 * * *')?.stopped, true);
    assert.equal(triggers.detail().cron?.next, null);
    // Started again, then reloaded into another schedule.
    app.stopped = false;
    app.changed();
    app.spec = { ...app.spec, cronRestart: '*/10 * * * *' };
    app.changed();
    assert.equal(live.get('0 3 * * *')?.stopped, true);
    assert.equal(live.get('*/10 * * * *')?.stopped, false);
    assert.equal(triggers.detail().cron?.schedule, '*/10 * * * *');
    app.spec = { ...app.spec, cronRestart: null };
    app.changed();
    assert.equal(live.get('*/10 * * * *')?.stopped, true);
    assert.equal(triggers.detail().cron, null);
    triggers.close();
  });
});
