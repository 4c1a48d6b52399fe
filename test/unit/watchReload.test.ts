import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, openSync, closeSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { AppSpec, WatchSpec } from '../../src/config/types';
import { filesHeldForWriting } from '../../src/logs/openForWrite';
import type { ReloadTarget } from '../../src/daemon/reloads/reloadTarget';
import { TreeWatcher } from '../../src/daemon/reloads/treeWatcher';
import { globRegExp, watchIgnore } from '../../src/daemon/reloads/watchIgnore';
import { WatchReload } from '../../src/daemon/reloads/watchReload';
import { eventually } from '../helpers';

function tmp(t: TestContext): string {
  const dir = realpathSync(mkdtempSync(path.join(tmpdir(), 'herd-watch-unit-')));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('watchIgnore', () => {
  const root = '/srv/app';
  const ignored = watchIgnore({
    roots: [root, '/srv/shared/config.json'],
    cwd: root,
    ignore: ['*.log', 'logs/**', 'src/*.tmp', '/srv/app/uploads', './build/', '*.{swp,bak}', '/srv/app/cache-*'],
    exact: ['/home/u/.herd'],
    logFiles: ['/srv/app/out/app.log'],
  });

  test('node_modules and dot-entries below a root, always', () => {
    assert.equal(ignored('/srv/app/node_modules'), true);
    assert.equal(ignored('/srv/app/packages/x/node_modules/y/index.js'), true);
    assert.equal(ignored('/srv/app/.git'), true);
    assert.equal(ignored('/srv/app/src/.server.js.swp'), true);
    assert.equal(ignored('/srv/app/.env'), true);
    assert.equal(ignored('/srv/app/src/index.js'), false);
    assert.equal(ignored('/srv/app'), false);
  });

  test('a root inside a dot-dir is still watched: only the part below the root counts', () => {
    const inDot = watchIgnore({ roots: ['/home/u/.apps/api'], cwd: '/home/u/.apps/api', ignore: [], exact: [] });
    assert.equal(inDot('/home/u/.apps/api/server.js'), false);
    assert.equal(inDot('/home/u/.apps/api/.git/HEAD'), true);
  });

  test('patterns without a slash match a name at any depth; with one, the path from the cwd', () => {
    assert.equal(ignored('/srv/app/debug.log'), true);
    assert.equal(ignored('/srv/app/src/deep/x.log'), true);
    assert.equal(ignored('/srv/app/logs'), true, 'logs/** covers the directory itself, so it is not walked');
    assert.equal(ignored('/srv/app/logs/2024/today.txt'), true);
    assert.equal(ignored('/srv/app/src/logs/today.txt'), false);
    assert.equal(ignored('/srv/app/src/a.tmp'), true);
    assert.equal(ignored('/srv/app/src/deep/a.tmp'), false);
    assert.equal(ignored('/srv/app/build/out.js'), true);
    assert.equal(ignored('/srv/app/x.swp'), true);
    assert.equal(ignored('/srv/app/x.bak'), true);
    assert.equal(ignored('/srv/app/x.js'), false);
  });

  test('absolute paths (with everything under them), herd\'s dirs, the app\'s PM2 log files and their rotations', () => {
    assert.equal(ignored('/srv/app/uploads'), true);
    assert.equal(ignored('/srv/app/uploads/a/b.png'), true);
    assert.equal(ignored('/srv/app/uploads-old/b.png'), false);
    assert.equal(ignored('/srv/app/cache-1/x'), true);
    assert.equal(ignored('/home/u/.herd/logs/api-out.log'), true);
    assert.equal(ignored('/srv/app/out/app.log'), true);
    assert.equal(ignored('/srv/app/out/app.20240501T102030123Z.log'), true);
    assert.equal(ignored('/srv/app/out/app.20240501T102030123Z.log.gz'), true);
    assert.equal(ignored('/srv/app/out/app.js'), false);
  });

  test('globRegExp: * stays within a name, ** crosses directories, a match covers what is under it', () => {
    assert.equal(globRegExp('src/*.js').test('src/a.js'), true);
    assert.equal(globRegExp('src/*.js').test('src/a/b.js'), false);
    assert.equal(globRegExp('src/**/*.js').test('src/a/b/c.js'), true);
    assert.equal(globRegExp('src/**/*.js').test('src/c.js'), true);
    assert.equal(globRegExp('a?c').test('abc'), true);
    assert.equal(globRegExp('[ab].txt').test('b.txt'), true);
    assert.equal(globRegExp('[!ab].txt').test('b.txt'), false);
    assert.equal(globRegExp('dist').test('dist/x/y.js'), true);
    assert.equal(globRegExp('a.b').test('axb'), false, 'dots are literal');
  });
});

describe('TreeWatcher', () => {
  async function watcher(t: TestContext, roots: string[], ignored: (p: string) => boolean = (p) => /\/(node_modules|\.git)(\/|$)/.test(p)) {
    const changes: string[] = [];
    const problems: string[] = [];
    const w = new TreeWatcher({ roots, ignored, onChange: (p) => changes.push(p), onProblem: (m) => problems.push(m) });
    t.after(() => w.close());
    await w.start();
    return { w, changes, problems };
  }

  test('one watch per directory; ignored directories are never walked; new directories are watched', async (t) => {
    const dir = tmp(t);
    mkdirSync(path.join(dir, 'src', 'lib'), { recursive: true });
    for (let i = 0; i < 50; i++) mkdirSync(path.join(dir, 'node_modules', `p${i}`, 'lib'), { recursive: true });
    mkdirSync(path.join(dir, '.git', 'objects'), { recursive: true });
    const { w, changes } = await watcher(t, [dir]);
    assert.equal(w.directories, 3, 'the root, src and src/lib');
    writeFileSync(path.join(dir, 'src', 'lib', 'a.js'), '1');
    await eventually(() => (changes.includes(path.join(dir, 'src', 'lib', 'a.js')) ? true : undefined), 5000, 'the change');
    // A new directory with a file written at once: the file is reported even if written before the directory was watched.
    mkdirSync(path.join(dir, 'src', 'new'));
    writeFileSync(path.join(dir, 'src', 'new', 'b.js'), '1');
    await eventually(() => (changes.includes(path.join(dir, 'src', 'new', 'b.js')) ? true : undefined), 5000, 'the file in the new directory');
    await eventually(() => (w.directories === 4 ? true : undefined), 5000, 'the new directory watched');
    writeFileSync(path.join(dir, 'node_modules', 'p1', 'lib', 'x.js'), '1');
    // Removed and made again: the old watch is stale, the new directory is watched.
    rmSync(path.join(dir, 'src', 'new'), { recursive: true });
    await eventually(() => (w.directories === 3 ? true : undefined), 5000, 'the removed directory unwatched');
    mkdirSync(path.join(dir, 'src', 'new'));
    await eventually(() => (w.directories === 4 ? true : undefined), 5000, 'the directory watched again');
    writeFileSync(path.join(dir, 'src', 'new', 'c.js'), '1');
    await eventually(() => (changes.includes(path.join(dir, 'src', 'new', 'c.js')) ? true : undefined), 5000, 'a change in the re-made directory');
    assert.ok(!changes.some((c) => c.includes('node_modules')), changes.join(' '));
  });

  test('a file root is watched through its directory: an editor\'s save by rename is seen, its neighbours are not', async (t) => {
    const dir = tmp(t);
    const file = path.join(dir, 'config.json');
    writeFileSync(file, '{}');
    const { changes } = await watcher(t, [file]);
    writeFileSync(path.join(dir, 'other.json'), '{}');
    writeFileSync(path.join(dir, 'config.json.tmp'), '{"a":1}');
    renameSync(path.join(dir, 'config.json.tmp'), file);
    await eventually(() => (changes.includes(file) ? true : undefined), 5000, 'the save');
    writeFileSync(file, '{"a":2}');
    await eventually(() => (changes.filter((c) => c === file).length >= 2 ? true : undefined), 5000, 'the next save');
    assert.deepEqual([...new Set(changes)], [file]);
  });

  test('a missing root is reported, the others are watched', async (t) => {
    const dir = tmp(t);
    const { w, problems } = await watcher(t, [path.join(dir, 'nope'), dir]);
    assert.equal(w.directories, 1);
    assert.match(problems[0] ?? '', /cannot watch .*nope: ENOENT/);
  });
});

describe('filesHeldForWriting', () => {
  test('a file this process holds open for writing is found; one open for reading is not', async (t) => {
    const dir = tmp(t);
    const written = path.join(dir, 'w.txt');
    const read = path.join(dir, 'r.txt');
    writeFileSync(read, 'x');
    const wfd = openSync(written, 'a');
    const rfd = openSync(read, 'r');
    t.after(() => {
      closeSync(wfd);
      closeSync(rfd);
    });
    const held = await filesHeldForWriting([process.pid]);
    assert.equal(held.has(written), true);
    assert.equal(held.has(read), false);
    assert.deepEqual([...await filesHeldForWriting([process.pid], (f) => f.startsWith(dir))].filter((f) => f.startsWith(dir)), [written]);
    assert.deepEqual(await filesHeldForWriting([2 ** 22 + 12345]), new Set(), 'a process that is gone holds nothing');
  });
});

describe('WatchReload: debounce, coalescing, failures', () => {
  interface Fake extends ReloadTarget {
    notes: string[];
    reloads: number;
    release: (err?: Error) => void;
    busy: string | null;
    stopped: boolean;
    fire: () => void;
  }

  function fakeApp(dir: string): Fake {
    const listeners = new Set<() => void>();
    let pending: ((err?: Error) => void) | null = null;
    const app: Fake = {
      name: 'w',
      spec: { name: 'w', cwd: dir } as AppSpec,
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
      fire: () => {
        for (const fn of [...listeners]) fn();
      },
    };
    return app;
  }

  async function start(t: TestContext, dir: string, app: Fake, delay = 100) {
    const spec: WatchSpec = { paths: [dir], ignore: [], delay };
    const w = new WatchReload(app, spec, dir, { exact: [], logFiles: [] });
    t.after(() => w.close());
    await w.start();
    return w;
  }

  const changes = (app: Fake) => app.notes.filter((n) => n.startsWith('file changed'));

  test('quick writes give one reload after the quiet delay; writes during it give one follow-up', async (t) => {
    const dir = tmp(t);
    const app = fakeApp(dir);
    const w = await start(t, dir, app);
    for (let i = 0; i < 10; i++) writeFileSync(path.join(dir, 'a.js'), String(i));
    await eventually(() => (app.reloads === 1 ? true : undefined), 5000, 'one reload');
    // While it runs: many changes, kept for one follow-up.
    for (let i = 0; i < 5; i++) writeFileSync(path.join(dir, `b${i}.js`), String(i));
    await eventually(() => (w.pending >= 5 ? true : undefined), 5000, 'the changes recorded');
    assert.equal(w.state, 'reloading');
    assert.equal(app.reloads, 1, 'no reload while one runs');
    app.release();
    await eventually(() => (app.reloads === 2 ? true : undefined), 5000, 'the follow-up');
    app.release();
    await eventually(() => (w.state === 'idle' ? true : undefined), 5000, 'idle');
    assert.deepEqual(changes(app), ['file changed: a.js; reloading', 'file changed: b0.js, b1.js, b2.js and 2 more; reloading']);
    assert.equal(app.reloads, 2);
  });

  test('a failed reload is logged and the next change tries again', async (t) => {
    const dir = tmp(t);
    const app = fakeApp(dir);
    await start(t, dir, app);
    writeFileSync(path.join(dir, 'a.js'), '1');
    await eventually(() => (app.reloads === 1 ? true : undefined), 5000, 'the reload');
    app.release(new Error('new worker crashed'));
    await eventually(() => (app.notes.some((n) => n.startsWith('watch reload failed: new worker crashed')) ? true : undefined), 5000, 'the failure noted');
    writeFileSync(path.join(dir, 'a.js'), '2');
    await eventually(() => (app.reloads === 2 ? true : undefined), 5000, 'the next try');
    app.release();
  });

  test('while another operation runs, the reload waits for it; a stopped app is not reloaded', async (t) => {
    const dir = tmp(t);
    const app = fakeApp(dir);
    const w = await start(t, dir, app, 50);
    app.busy = 'restarting';
    writeFileSync(path.join(dir, 'a.js'), '1');
    await eventually(() => (w.state === 'waiting' ? true : undefined), 5000, 'waiting for the operation');
    app.fire(); // a worker came online: still busy
    assert.equal(w.state, 'waiting');
    app.busy = null;
    app.fire();
    await eventually(() => (app.reloads === 1 ? true : undefined), 5000, 'the reload after the operation');
    app.release();
    await eventually(() => (w.state === 'idle' ? true : undefined), 5000, 'idle');
    // Stopped: the change is seen, judged when its debounce ends, and dropped. Its debounce state lasts 50 ms,
    // too short to be sure to see it, so the judging is what is awaited: the one read of `stopped`.
    let judged = 0;
    Object.defineProperty(app, 'stopped', { configurable: true, get: () => ++judged > 0 });
    writeFileSync(path.join(dir, 'a.js'), '2');
    await eventually(() => (judged > 0 && w.state === 'idle' && w.pending === 0 ? true : undefined), 5000, 'the change seen and dropped');
    assert.equal(app.reloads, 1);
  });
});
