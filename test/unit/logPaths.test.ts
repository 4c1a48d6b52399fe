import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import type { AppSpec, LogFilesSpec } from '../../src/config/types';
import { DEFAULTS } from '../../src/config/types';
import { logRoutes, prepareLogFiles } from '../../src/logs/logFiles';
import { FileLogSink } from '../../src/logs/logSink';
import { RotatingFile } from '../../src/logs/rotatingFile';
import { eventually } from '../helpers';

function tmp(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-logpaths-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const files = (f: Partial<LogFilesSpec>): LogFilesSpec => ({ out: null, err: null, combined: null, ...f });
const spec = (f: Partial<LogFilesSpec>) => ({ name: 'api', logFiles: files(f) }) as AppSpec;
const line = (stream: 'out' | 'err', msg: string) => ({ time: Date.parse('2024-05-01T10:20:30.123Z'), app: 'api', worker: 0, stream, msg });

describe('logRoutes', () => {
  test('each stream to its file and log_file, a path once; /dev/null drops herd\'s own file; stdio paths are not files', () => {
    assert.deepEqual(logRoutes(files({ out: '/l/out.log', err: '/l/err.log', combined: '/l/all.log' })), {
      own: { out: true, err: true },
      extra: { out: ['/l/out.log', '/l/all.log'], err: ['/l/err.log', '/l/all.log'] },
    });
    // PM2 apps often give out_file and error_file the same path: one file, each line once.
    assert.deepEqual(logRoutes(files({ out: '/l/app.log', err: '/l/app.log', combined: '/l/app.log' })).extra, { out: ['/l/app.log'], err: ['/l/app.log'] });
    assert.deepEqual(logRoutes(files({ out: '/dev/null', err: 'NULL', combined: '/l/all.log' })), {
      own: { out: false, err: false },
      extra: { out: ['/l/all.log'], err: ['/l/all.log'] },
    });
    assert.deepEqual(logRoutes(files({ out: '/dev/stdout', err: '/dev/stderr' })), { own: { out: true, err: true }, extra: { out: [], err: [] } });
  });
});

describe('prepareLogFiles', () => {
  test('creates the directory (noted) and the file; appends to an existing file without touching it', async (t) => {
    const dir = tmp(t);
    const out = path.join(dir, 'a', 'b', 'out.log');
    const err = path.join(dir, 'err.log');
    writeFileSync(err, 'old line\n');
    const notes = await prepareLogFiles(spec({ out, err, combined: '/dev/null' }));
    assert.deepEqual(notes, [`out_file: created directory ${path.join(dir, 'a', 'b')}`]);
    assert.equal(readFileSync(out, 'utf8'), '');
    assert.equal(readFileSync(err, 'utf8'), 'old line\n');
  });

  test('refuses a symbolic link, a directory, a pipe, a relative path; notes a stdio path', async (t) => {
    const dir = tmp(t);
    const target = path.join(dir, 'precious');
    writeFileSync(target, 'keep\n');
    symlinkSync(target, path.join(dir, 'link.log'));
    mkdirSync(path.join(dir, 'adir'));
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    const reason = async (f: Partial<LogFilesSpec>) => {
      try {
        await prepareLogFiles(spec(f));
        return 'accepted';
      } catch (err) {
        assert.equal((err as { code?: string }).code, 'HERD_ERR_LOG_FILE');
        return (err as Error).message;
      }
    };
    assert.match(await reason({ err: path.join(dir, 'link.log') }), /^app "api": error_file .*link\.log: is a symbolic link; herd does not write through one/);
    assert.equal(readFileSync(target, 'utf8'), 'keep\n');
    assert.match(await reason({ combined: path.join(dir, 'adir') }), /log_file .*adir: is a directory/);
    assert.match(await reason({ out: path.join(dir, 'fifo') }), /out_file .*fifo: is not a regular file/);
    assert.match(await reason({ out: 'logs/out.log' }), /out_file logs\/out\.log: must be an absolute path/);
    assert.deepEqual(await prepareLogFiles(spec({ out: '/dev/stdout' })), [
      "out_file /dev/stdout: not written (the daemon's stdout is its own log); the lines are in herd's own files, and `herd run` prints them to stdout",
    ]);
  });

  test('a file the daemon may not append to is refused', { skip: process.getuid?.() === 0 ? 'root may write anything' : false }, async (t) => {
    const dir = tmp(t);
    const ro = path.join(dir, 'ro.log');
    writeFileSync(ro, '');
    chmodSync(ro, 0o444);
    await assert.rejects(prepareLogFiles(spec({ out: ro })), /out_file .*ro\.log: cannot be opened for appending: EACCES/);
  });
});

describe('RotatingFile at a PM2 path', () => {
  test('rotates to name.<stamp>.ext, keeps the file mode across rotations, never writes through a planted link', async (t) => {
    const dir = tmp(t);
    const file = path.join(dir, 'out.log');
    writeFileSync(file, '');
    chmodSync(file, 0o640);
    const f = RotatingFile.atPath(file, { maxSize: 100, retain: 2, daily: false, gzip: false });
    for (let i = 0; i < 10; i++) f.write(`${String(i).padStart(2, '0')} ${'x'.repeat(40)}\n`);
    await f.close();
    const rotated = readdirSync(dir).filter((n) => /^out\.\d{8}T\d{9}Z\.log$/.test(n)).sort();
    assert.equal(rotated.length, 2, `retain 2: ${readdirSync(dir).join(' ')}`);
    assert.equal(statSync(file).mode & 0o777, 0o640);
    for (const n of rotated) assert.equal(statSync(path.join(dir, n)).mode & 0o777, 0o640);
    // Someone swaps the file for a link to another file: herd refuses to open it (O_NOFOLLOW), the target is untouched.
    const target = path.join(dir, 'target');
    writeFileSync(target, 'keep\n');
    unlinkSync(file);
    symlinkSync(target, file);
    const again = RotatingFile.atPath(file, { maxSize: 1 << 20, retain: 2, daily: false, gzip: false });
    again.write('through the link?\n');
    assert.match(await eventually(() => again.failure ?? undefined, 5000, 'the failed open'), /ELOOP|symbolic link/);
    assert.equal(readFileSync(target, 'utf8'), 'keep\n');
    await again.close(100);
  });
});

describe('FileLogSink with PM2 paths', () => {
  test('the same lines in herd\'s files and the PM2 paths; /dev/null keeps a stream off the disk', async (t) => {
    const dir = tmp(t);
    const sink = new FileLogSink(path.join(dir, 'herd'));
    t.after(() => sink.close());
    const out = path.join(dir, 'pm2', 'out.log');
    const all = path.join(dir, 'pm2', 'all.log');
    sink.configure('api', DEFAULTS.logs, files({ out, err: '/dev/null', combined: all }));
    sink.write(line('out', 'hello'));
    sink.write(line('err', 'oops'));
    await sink.close();
    const stamp = '2024-05-01T10:20:30.123Z [0] ';
    assert.equal(readFileSync(out, 'utf8'), `${stamp}hello\n`);
    assert.equal(readFileSync(all, 'utf8'), `${stamp}hello\n${stamp}oops\n`);
    assert.equal(readFileSync(path.join(dir, 'herd', 'api-out.log'), 'utf8'), `${stamp}hello\n`);
    assert.equal(existsSync(path.join(dir, 'herd', 'api-err.log')), false, 'error_file /dev/null: not on disk');
    assert.equal(sink.dropped('api'), 0);
  });
});
