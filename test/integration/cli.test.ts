import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import { CLI, FIXTURES, NODE, eventually, freePort, get, herdHome, list } from '../helpers';

test('a bad config reports every problem with its path, exits 2 and changes nothing', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'keep'], { PORT: String(port) })).code, 0);
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({ apps: [
    { name: 'a', script: path.join(FIXTURES, 'hello.js'), instances: 'lots' },
    { name: 'b', script: path.join(FIXTURES, 'missing.js'), kill_timeout: 'soon' },
  ] }));
  const r = await herd(['start', config]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /herd\.config\.json/);
  assert.match(r.stderr, /apps\[0\]\.instances/);
  assert.match(r.stderr, /apps\[1\]\.script/);
  assert.match(r.stderr, /apps\[1\]\.kill_timeout/);
  assert.deepEqual((await list(herd)).map((a) => a.name), ['keep']);
});

test('usage errors exit 2 and name the argument', async (t) => {
  const { herd } = herdHome(t);
  let r = await herd(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command "frobnicate"/);
  r = await herd(['start']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /missing script or config file/);
  r = await herd(['start', path.join(FIXTURES, 'nope.js')]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /nope\.js/);
  r = await herd(['list', '--bogus']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--bogus/);
  r = await herd(['--version']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^\d+\.\d+\.\d+/);
});

test('the daemon survives garbage and malformed requests on its socket', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api'], { PORT: String(port) })).code, 0);
  const replies = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(path.join(home, 'herd.sock'));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      text += c;
      if (text.split('\n').length > 4) socket.end();
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
    socket.write('this is not json\n');
    socket.write(`${JSON.stringify({ v: 1, id: 2, request: { type: 'explode' } })}\n`);
    socket.write(`${JSON.stringify({ v: 1, id: 3, request: { type: 'start', apps: [{ name: 5 }] } })}\n`);
    socket.write(`${JSON.stringify({ v: 1, id: 4, request: { type: 'stop' } })}\n`);
  });
  assert.match(replies, /HERD_ERR_BAD_REQUEST/);
  assert.match(replies, /unknown request type/);
  assert.equal((await list(herd))[0]?.status, 'online');
  assert.equal((await get(port)).status, 200);
});

test('a CLI meeting a daemon of another protocol version says so and what to do', async (t) => {
  const { home, herd } = herdHome(t);
  // A stand-in for an older daemon: answers hello with another protocol number.
  const { mkdirSync } = await import('node:fs');
  mkdirSync(home, { recursive: true });
  const fake = net.createServer((socket) => {
    socket.setEncoding('utf8');
    socket.on('data', (line: string) => {
      for (const text of line.trim().split('\n')) {
        const { id, request } = JSON.parse(text) as { id: number; request: { type: string } };
        const data = request.type === 'kill' ? { stopped: ['old-app'] } : { protocol: 99, version: '9.9.9', pid: 1, home };
        socket.write(`${JSON.stringify({ v: 99, id, kind: 'result', ok: true, data })}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => fake.listen(path.join(home, 'herd.sock'), resolve));
  t.after(() => fake.close());
  const r = await herd(['list']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /protocol 99/);
  assert.match(r.stderr, /herd kill/);
  // ...and herd kill, as advised, does stop it.
  const k = await herd(['kill']);
  assert.equal(k.code, 0, k.stderr);
  assert.match(k.stdout, /old-app/);
});

test('the app environment is the CLI environment plus the config env; --env picks env_<name>', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'ecosystem.config.js');
  writeFileSync(config, `module.exports = { apps: [{ name: 'envy', script: ${JSON.stringify(path.join(FIXTURES, 'print-env.js'))}, args: 'one two', env: { PORT: ${port}, GREETING: 'dev' }, env_production: { GREETING: 'prod' } }] };\n`);
  const r = await herd(['start', config, '--env', 'production'], { FROM_CLI: 'cli-value' });
  assert.equal(r.code, 0, r.stderr);
  const body = JSON.parse((await get(port)).body) as { greeting: string; fromCli: string; args: string[] };
  assert.deepEqual(body, { ...body, greeting: 'prod', fromCli: 'cli-value', args: ['one', 'two'] });
});

test('a CLI whose stdout is closed early (herd reload | head -1) finishes the command and exits with its code, no EPIPE stack', async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  assert.equal((await herd(['start', path.join(FIXTURES, 'hello.js'), '--name', 'api', '-i', '2'], { PORT: String(port), LOG_REQUESTS: '1' })).code, 0);
  const before = (await list(herd))[0]?.workers.map((w) => w.pid) ?? [];
  // Like `| head -1`: the reader takes the first line and closes the pipe.
  const child = spawn(NODE, [CLI, 'reload', 'api'], { env: { ...process.env, HERD_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('\n')) child.stdout.destroy();
  });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (err += c));
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(err.includes('EPIPE') || err.includes("Unhandled 'error'"), false, err);
  assert.equal(code, 0, err);
  const after = (await list(herd))[0]?.workers.map((w) => w.pid) ?? [];
  assert.ok(after.length === 2 && after.every((p) => !before.includes(p)), 'the reload ran to its end');
  // `herd logs --follow | head -1` ends once its reader is gone, instead of following for ever.
  const follower = spawn(NODE, [CLI, 'logs', 'api', '--follow'], { env: { ...process.env, HERD_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => follower.kill('SIGKILL'));
  follower.stdout.once('data', () => follower.stdout.destroy());
  let exitCode: number | null | undefined;
  follower.on('close', (c) => (exitCode = c));
  // As with any writer, the closed pipe shows at its next write: a request logs a line.
  await eventually(async () => {
    await get(port);
    return exitCode !== undefined ? true : undefined;
  }, 15_000, 'the follower to end');
  assert.equal(exitCode, 0);
});
