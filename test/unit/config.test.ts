import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HerdError } from '../../src/errors';
import { isConfigFile, loadTarget, type LoadOptions } from '../../src/config/load';
import { DEFAULTS } from '../../src/config/types';

let dir = '';

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'herd-config-'));
  await writeFile(path.join(dir, 'server.js'), "require('node:http').createServer().listen(process.env.PORT);\n");
  await writeFile(path.join(dir, 'worker.js'), 'setInterval(() => {}, 1000);\n');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function options(extra: Partial<LoadOptions> = {}): LoadOptions {
  return {
    cwd: dir,
    env: { PATH: '/usr/bin', HOME: '/home/me' },
    envName: null,
    overrides: {},
    interpreter: '/opt/node/bin/node',
    cpus: 4,
    ...extra,
  };
}

/** Writes a file into a fresh subdirectory (so tests never share a config) and returns its path. */
let seq = 0;
async function file(name: string, text: string, sub = `case${++seq}`): Promise<string> {
  const d = path.join(dir, sub);
  await mkdir(d, { recursive: true });
  const p = path.join(d, name);
  await writeFile(p, text);
  return p;
}

/** The config problems of a load that must fail. */
async function problems(target: string, opts = options()): Promise<string[]> {
  const err = await loadTarget(target, opts).then(
    () => assert.fail('expected HERD_ERR_CONFIG_INVALID'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof HerdError, String(err));
  assert.equal(err.code, 'HERD_ERR_CONFIG_INVALID', err.message);
  return err.details;
}

describe('isConfigFile', () => {
  test('recognises config files by name', () => {
    for (const f of ['herd.config.js', 'herd.config.cjs', 'herd.config.mjs', 'herd.config.json', 'ecosystem.config.js',
      'ecosystem.js', 'ecosystem.json', 'apps.json', 'prod.config.cjs', '/srv/app/ecosystem.config.mjs']) {
      assert.equal(isConfigFile(f), true, f);
    }
  });
  test('treats everything else as a script', () => {
    for (const f of ['server.js', 'index.mjs', 'app.ts', 'herd.config.ts', 'config.js', 'dist/main.cjs']) {
      assert.equal(isConfigFile(f), false, f);
    }
  });
});

describe('script targets', () => {
  test('one app with defaults, named after the script', async () => {
    const { specs, warnings } = await loadTarget('server.js', options());
    assert.deepEqual(warnings, []);
    assert.equal(specs.length, 1);
    const [spec] = specs;
    assert.ok(spec);
    assert.equal(spec.name, 'server');
    assert.equal(spec.script, path.join(dir, 'server.js'));
    assert.equal(spec.cwd, dir);
    assert.equal(spec.instances, 1);
    assert.equal(spec.execMode, 'cluster');
    assert.deepEqual(spec.env, { PATH: '/usr/bin', HOME: '/home/me' });
    assert.equal(spec.interpreter, '/opt/node/bin/node');
    assert.deepEqual(spec.nodeArgs, []);
    assert.equal(spec.maxMemory, null);
    assert.equal(spec.killTimeout, DEFAULTS.killTimeout);
    assert.equal(spec.listenTimeout, DEFAULTS.listenTimeout);
    assert.deepEqual(spec.backoff, DEFAULTS.backoff);
    assert.deepEqual(spec.crashLoop, DEFAULTS.crashLoop);
    assert.deepEqual(spec.reload, DEFAULTS.reload);
    assert.deepEqual(spec.source, { configFile: null, envName: null, cliOverrides: {} });
  });

  test('--name, -i and app args apply', async () => {
    const overrides = { name: 'api', instances: '3', args: ['--port', '80'] };
    const [spec] = (await loadTarget('server.js', options({ overrides }))).specs;
    assert.equal(spec?.name, 'api');
    assert.equal(spec?.instances, 3);
    assert.deepEqual(spec?.args, ['--port', '80']);
    assert.deepEqual(spec?.source.cliOverrides, overrides);
  });

  test('-i max, -1 and N', async () => {
    const count = async (instances: string, cpus: number) =>
      (await loadTarget('server.js', options({ overrides: { instances }, cpus }))).specs[0]?.instances;
    assert.equal(await count('max', 4), 4);
    assert.equal(await count('-1', 4), 3);
    assert.equal(await count('-1', 1), 1);
    assert.equal(await count('0', 2), 2);
    assert.equal(await count('7', 2), 7);
  });

  test('a bad -i is a usage error', async () => {
    await assert.rejects(loadTarget('server.js', options({ overrides: { instances: 'lots' } })),
      (e: unknown) => e instanceof HerdError && e.code === 'HERD_ERR_USAGE' && /-i: .*"lots"/.test(e.message));
  });

  test('a missing script is HERD_ERR_SCRIPT_NOT_FOUND', async () => {
    await assert.rejects(loadTarget('nope.js', options()),
      (e: unknown) => e instanceof HerdError && e.code === 'HERD_ERR_SCRIPT_NOT_FOUND' && e.message.includes('nope.js'));
  });

  test('--env on a script is warned about', async () => {
    const { warnings } = await loadTarget('server.js', options({ envName: 'production' }));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /--env production/);
  });
});

describe('config files', () => {
  test('herd.config.json with herd keys', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [{
        name: 'api', script: '../server.js', args: '--port 80 --title "my api"', instances: 'max', execMode: 'cluster',
        env: { NODE_ENV: 'production', WORKERS: 2, DEBUG: false }, nodeArgs: ['--enable-source-maps'],
        maxMemory: '512MB', killTimeout: '10s', listenTimeout: 20000, waitReady: true, autorestart: false,
        backoff: { initial: '1s', max: '1m', factor: 3, resetAfter: '2m' },
        crashLoop: { maxCrashes: 10, window: '5m', coolDown: '1m' }, reload: { parallel: 2 },
      }],
    }));
    const { specs, warnings } = await loadTarget(cfg, options());
    assert.deepEqual(warnings, []);
    const [spec] = specs;
    assert.ok(spec);
    assert.equal(spec.script, path.join(dir, 'server.js'), 'relative to the config file');
    assert.equal(spec.cwd, path.dirname(cfg));
    assert.deepEqual(spec.args, ['--port', '80', '--title', 'my api']);
    assert.equal(spec.instances, 4);
    assert.deepEqual(spec.env, { PATH: '/usr/bin', HOME: '/home/me', NODE_ENV: 'production', WORKERS: '2', DEBUG: 'false' });
    assert.deepEqual(spec.nodeArgs, ['--enable-source-maps']);
    assert.equal(spec.maxMemory, 512 * 1024 * 1024);
    assert.equal(spec.killTimeout, 10_000);
    assert.equal(spec.listenTimeout, 20_000);
    assert.equal(spec.waitReady, true);
    assert.equal(spec.autorestart, false);
    assert.deepEqual(spec.backoff, { initial: 1000, max: 60_000, factor: 3, resetAfter: 120_000 });
    assert.deepEqual(spec.crashLoop, { maxCrashes: 10, minUptime: 1000, window: 300_000, coolDown: 60_000 });
    assert.deepEqual(spec.reload, { parallel: 2 });
    assert.deepEqual(spec.source, { configFile: cfg, envName: null, cliOverrides: {} });
  });

  test('herd.config.js (CommonJS), with app cwd and a bare array', async () => {
    const cfg = await file('herd.config.js', `
      const path = require('node:path');
      module.exports = [
        { name: 'api', script: 'server.js', cwd: '..', instances: 2 },
        { name: 'jobs', script: path.join(__dirname, '..', 'worker.js'), exec_mode: 'fork' },
      ];
    `);
    const { specs } = await loadTarget(cfg, options());
    assert.deepEqual(specs.map((s) => [s.name, s.script, s.cwd, s.instances, s.execMode]), [
      ['api', path.join(dir, 'server.js'), dir, 2, 'cluster'],
      ['jobs', path.join(dir, 'worker.js'), path.dirname(cfg), 1, 'fork'],
    ]);
  });

  test('herd.config.mjs (ESM default export)', async () => {
    const cfg = await file('herd.config.mjs', `
      export default { apps: [{ name: 'api', script: '../server.js', instances: -1 }] };
    `);
    const { specs } = await loadTarget(cfg, options({ cpus: 2 }));
    assert.equal(specs[0]?.name, 'api');
    assert.equal(specs[0]?.instances, 1);
  });

  test('a PM2 ecosystem.config.js as it is, with --env production', async () => {
    const cfg = await file('ecosystem.config.js', `
      module.exports = {
        apps: [
          {
            name: 'api',
            script: './server.js',
            cwd: '${dir}',
            instances: 'max',
            exec_mode: 'cluster_mode',
            node_args: '--max-old-space-size=400 --enable-source-maps',
            args: ['--color'],
            max_memory_restart: '300M',
            kill_timeout: 3000,
            listen_timeout: '8s',
            wait_ready: true,
            max_restarts: 10,
            min_uptime: '10s',
            exp_backoff_restart_delay: 100,
            port: 3000,
            watch: false,
            error_file: './logs/err.log',
            out_file: './logs/out.log',
            log_date_format: 'YYYY-MM-DD HH:mm Z',
            env: { NODE_ENV: 'development', API_KEY: process.env.SURELY_NOT_SET_ANYWHERE },
            env_production: { NODE_ENV: 'production', LOG_LEVEL: 'warn' },
          },
          {
            name: 'worker',
            script: 'worker.js',
            cwd: '${dir}',
            exec_mode: 'fork',
            interpreter_args: ['--trace-warnings'],
            interpreter: 'node',
            restart_delay: 4000,
            autorestart: true,
          },
        ],
        deploy: { production: { user: 'node', host: 'example.com' } },
      };
    `);
    const { specs, warnings } = await loadTarget(cfg, options({ envName: 'production', cpus: 2 }));
    const [api, worker] = specs;
    assert.ok(api && worker);
    assert.equal(api.instances, 2);
    assert.equal(api.execMode, 'cluster');
    assert.deepEqual(api.nodeArgs, ['--max-old-space-size=400', '--enable-source-maps']);
    assert.deepEqual(api.args, ['--color']);
    assert.equal(api.maxMemory, 300 * 1024 * 1024);
    assert.equal(api.killTimeout, 3000);
    assert.equal(api.listenTimeout, 8000);
    assert.equal(api.waitReady, true);
    assert.equal(api.crashLoop.maxCrashes, 10);
    assert.equal(api.crashLoop.minUptime, 10_000);
    assert.deepEqual(api.backoff, { initial: 100, max: DEFAULTS.backoff.max, factor: 1.5, resetAfter: DEFAULTS.backoff.resetAfter });
    assert.deepEqual(api.env, { PATH: '/usr/bin', HOME: '/home/me', NODE_ENV: 'production', LOG_LEVEL: 'warn', PORT: '3000' });
    assert.deepEqual(api.source, { configFile: cfg, envName: 'production', cliOverrides: {} });

    assert.equal(worker.execMode, 'fork');
    assert.deepEqual(worker.nodeArgs, ['--trace-warnings']);
    assert.equal(worker.interpreter, '/opt/node/bin/node');
    assert.deepEqual(worker.backoff, { ...DEFAULTS.backoff, initial: 4000, factor: 1 });
    assert.deepEqual(worker.env, { PATH: '/usr/bin', HOME: '/home/me' });

    assert.deepEqual(api.logFiles, { out: path.join(dir, 'logs/out.log'), err: path.join(dir, 'logs/err.log'), combined: null });
    assert.equal(api.watch, null);

    const label = path.relative(dir, cfg);
    assert.deepEqual(warnings.sort(), [
      `${label}: apps[0].log_date_format: herd stamps every line with an ISO-8601 UTC time (2024-05-01T12:00:00.000Z); the format is not configurable; ignored`,
      `${label}: apps[0].out_file: PM2 writes one file per instance in cluster mode unless merge_logs is true (out-0.log, out-1.log, ...); herd writes every worker to the one file, with the worker id on each line`,
      `${label}: deploy: herd does not deploy code (keep pm2 deploy or your CI for that); ignored`,
    ]);
  });

  test('--env with no matching section is warned about', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({ apps: [{ script: '../server.js', env: { A: '1' } }] }));
    const { specs, warnings } = await loadTarget(cfg, options({ envName: 'staging' }));
    assert.equal(specs[0]?.env.A, '1');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /env_staging/);
  });

  test('a missing name defaults to the script basename', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({ apps: [{ script: '../server.js' }] }));
    assert.equal((await loadTarget(cfg, options())).specs[0]?.name, 'server');
  });

  test('durations and sizes accept numbers and unit strings', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [
        { name: 'a', script: '../server.js', kill_timeout: '1.5s', listen_timeout: '2m', max_memory_restart: '1G', min_uptime: 500 },
        { name: 'b', script: '../server.js', killTimeout: 250, listenTimeout: '250ms', maxMemory: 1_000_000 },
      ],
    }));
    const [a, b] = (await loadTarget(cfg, options())).specs;
    assert.deepEqual([a?.killTimeout, a?.listenTimeout, a?.maxMemory, a?.crashLoop.minUptime], [1500, 120_000, 1024 ** 3, 500]);
    assert.deepEqual([b?.killTimeout, b?.listenTimeout, b?.maxMemory], [250, 250, 1_000_000]);
  });

  test('--only picks apps; --name and -i apply to a single app', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [{ name: 'api', script: '../server.js' }, { name: 'jobs', script: '../worker.js' }],
    }));
    const { specs } = await loadTarget(cfg, options({ only: ['jobs'], overrides: { name: 'jobs2', instances: 'max', args: ['x'] } }));
    assert.deepEqual(specs.map((s) => [s.name, s.instances, s.args]), [['jobs2', 4, ['x']]]);

    assert.deepEqual(await problems(cfg, options({ overrides: { name: 'x', instances: '2' } })), [
      '--name: applies to a single app, but 2 apps are selected (pick one with --only)',
      '-i: applies to a single app, but 2 apps are selected (pick one with --only)',
    ]);
    assert.deepEqual(await problems(cfg, options({ only: ['nope'] })), ['--only: no app named "nope" (apps: api, jobs)']);
  });

  test('autostart: false leaves an app out unless --only names it', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [{ name: 'api', script: '../server.js' }, { name: 'migrate', script: '../worker.js', autostart: false }],
    }));
    const all = await loadTarget(cfg, options());
    assert.deepEqual(all.specs.map((s) => s.name), ['api']);
    assert.match(all.warnings.join('\n'), /apps\[1\]\.autostart: false: "migrate" not started/);
    const only = await loadTarget(cfg, options({ only: ['migrate'] }));
    assert.deepEqual(only.specs.map((s) => s.name), ['migrate']);
  });

  test('the result is deeply frozen', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({ apps: [{ script: '../server.js', args: ['a'] }] }));
    const overrides = { args: ['b'] };
    const { specs } = await loadTarget(cfg, options({ overrides }));
    const spec = specs[0];
    assert.ok(spec);
    for (const part of [spec, spec.args, spec.env, spec.nodeArgs, spec.backoff, spec.crashLoop, spec.reload, spec.source,
      spec.source.cliOverrides, spec.source.cliOverrides.args]) {
      assert.ok(Object.isFrozen(part));
    }
    assert.equal(Reflect.set(spec, 'instances', 9), false);
    assert.equal(spec.instances, 1);
    assert.equal(Object.isFrozen(overrides), false, "the caller's objects are not frozen");
  });

  test('a config changed on disk is re-read in the same process', async () => {
    for (const name of ['herd.config.js', 'herd.config.mjs']) {
      const sub = `reread-${name.replace(/\W/g, '')}`;
      const helperName = name.endsWith('.mjs') ? 'instances.mjs' : 'instances.js';
      const body = (n: number) => (name.endsWith('.mjs')
        ? `export default { apps: [{ name: 'api', script: '../server.js', instances: ${n} }] };`
        : `module.exports = { apps: [{ name: 'api', script: '../server.js', instances: require('./${helperName}') }] };`);
      const cfg = await file(name, body(1), sub);
      await file(helperName, name.endsWith('.mjs') ? 'export default 2;' : 'module.exports = 2;', sub);
      assert.equal((await loadTarget(cfg, options())).specs[0]?.instances, name.endsWith('.mjs') ? 1 : 2, name);

      await file(name, body(3), sub);
      if (!name.endsWith('.mjs')) await file(helperName, 'module.exports = 5;', sub);
      assert.equal((await loadTarget(cfg, options())).specs[0]?.instances, name.endsWith('.mjs') ? 3 : 5,
        `${name}: the edited file (and for CommonJS the files it requires) is read again`);
    }
  });

  test('a .js config in a "type": "module" package loads as ESM', async () => {
    const sub = 'esm-package';
    await file('package.json', '{ "type": "module" }', sub);
    const cfg = await file('ecosystem.config.js', "export default { apps: [{ name: 'api', script: '../server.js' }] };", sub);
    assert.equal((await loadTarget(cfg, options())).specs[0]?.name, 'api');
  });
});

describe('problems and warnings', () => {
  test('every problem is reported together, with its path', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [
        { name: 'api', script: '../server.js', instances: 'lots', kill_timeout: 'soon', env: { OK: 'x' } },
        { name: 'api', script: '../server.js', exec_mode: 'threads', wait_ready: 'yes', max_memory_restart: 'huge' },
        { script: '../missing.js', node_args: 5, interpreter: 'no-such-interpreter' },
        'not an app',
        { name: 'nothing' },
      ],
    }));
    assert.deepEqual(await problems(cfg), [
      `apps[0].instances: must be a positive integer, 'max' or -1; got "lots"`,
      `apps[0].kill_timeout: must be a duration in ms or like '30s', '5m'; got "soon"`,
      "apps[1].exec_mode: must be 'cluster' or 'fork'; got \"threads\"",
      "apps[1].max_memory_restart: must be a size in bytes or like '512M', '1G'; got \"huge\"",
      'apps[1].wait_ready: must be true or false; got "yes"',
      'apps[1].name: duplicate app name "api" (also apps[0].name)',
      'apps[2].node_args: must be a string or an array of strings; got 5',
      `apps[2].script: file not found: ${path.join(dir, 'missing.js')}`,
      'apps[2].interpreter: no-such-interpreter not found on PATH',
      'apps[3]: must be an object; got "not an app"',
      'apps[4].script: is required (the path of the entry script)',
    ]);
  });

  test('the error names the file', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({ apps: [{ script: '../server.js', instances: 0.5 }] }));
    const err = await loadTarget(cfg, options()).catch((e: unknown) => e);
    assert.ok(err instanceof HerdError);
    assert.equal(err.message, `invalid configuration in ${path.relative(dir, cfg)}`);
  });

  test('unknown keys are warned about, with a suggestion when close', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [{ script: '../server.js', instanses: 2, colour: 'blue', backoff: { intial: 5 } }],
      extra: true,
    }));
    const label = path.relative(dir, cfg);
    const { warnings } = await loadTarget(cfg, options());
    assert.deepEqual(warnings, [
      `${label}: extra: unknown key; ignored`,
      `${label}: apps[0].instanses: unknown key; ignored (did you mean 'instances'?)`,
      `${label}: apps[0].colour: unknown key; ignored`,
      `${label}: apps[0].backoff.intial: unknown key; ignored (did you mean 'initial'?)`,
    ]);
  });

  test('unsupported PM2 options are warned about with the reason; turning them off is not', async () => {
    const cfg = await file('ecosystem.json', JSON.stringify({
      apps: [{ script: '../server.js', watch: false, pid_file: './app.pid', vizion: false, treekill: false }],
    }));
    const label = path.relative(dir, cfg);
    const { warnings } = await loadTarget(cfg, options());
    assert.deepEqual(warnings, [
      `${label}: apps[0].pid_file: herd writes no pid files; \`herd list --json\` shows each worker's pid; ignored`,
      `${label}: apps[0].treekill: herd stops a worker its own way (drain, then a signal, SIGKILL after killTimeout); ignored`,
    ]);
  });

  test('two spellings of one setting: herd name wins, the other is warned about', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [{ script: '../server.js', killTimeout: 100, kill_timeout: 200 }],
    }));
    const { specs, warnings } = await loadTarget(cfg, options());
    assert.equal(specs[0]?.killTimeout, 100);
    assert.match(warnings[0] ?? '', /apps\[0\]\.kill_timeout: also set as 'killTimeout'; ignored/);
  });

  test('apps that is not an array is a problem', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({ apps: { script: 'server.js' } }));
    assert.deepEqual(await problems(cfg), ['apps: must be an array of apps; got an object']);
  });

  test('an interpreter that cannot be found is a problem, with a hint for nvm versions', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [{ name: 'a', script: '../server.js', interpreter: 'node@18.17.0' }, { name: 'b', script: '../server.js', interpreter: 'ts-node' }],
    }));
    const found = await problems(cfg);
    assert.match(found[0] ?? '', /^apps\[0\]\.interpreter: PM2's node@18\.17\.0 \(a Node\.js version installed with nvm\) is not supported; give the path/);
    assert.equal(found[1], 'apps[1].interpreter: ts-node not found on PATH');
  });

  test('an interpreter path must be a node binary that exists', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      apps: [{ name: 'a', script: '../server.js', interpreter: process.execPath }, { name: 'b', script: '../server.js', interpreter: '/nope/node' }],
    }));
    assert.deepEqual(await problems(cfg), ['apps[1].interpreter: node binary not found: /nope/node']);
  });

  test('JSON syntax errors name the file and the place', async () => {
    const cfg = await file('herd.config.json', '{\n  "apps": [\n    { "script": "server.js", }\n  ]\n}\n}\n');
    assert.deepEqual(await problems(cfg), [`JSON syntax error at ${path.relative(dir, cfg)}:6:1: unexpected '}' after the end of the value`]);
  });

  test('a JS config that throws is reported as invalid', async () => {
    const cfg = await file('herd.config.js', "throw new Error('boom');");
    assert.deepEqual(await problems(cfg), [`cannot load: Error: boom (at ${path.relative(dir, cfg)}:1:7)`]);
  });

  test('a missing config file is HERD_ERR_CONFIG_NOT_FOUND', async () => {
    await assert.rejects(loadTarget('nope/herd.config.js', options()), (e: unknown) =>
      e instanceof HerdError && e.code === 'HERD_ERR_CONFIG_NOT_FOUND' && e.message === 'cannot read nope/herd.config.js: no such file');
  });

  test('logs and accessLog: defaults, sizes, and path-named problems', async () => {
    const ok = await file('herd.config.json', JSON.stringify({ apps: [
      { name: 'a', script: '../server.js', logs: { maxSize: '1MB', retain: 3, daily: true, gzip: true, maxLineLength: '4K' }, accessLog: true },
      { name: 'b', script: '../server.js' },
    ] }));
    const { specs, warnings } = await loadTarget(ok, options());
    assert.deepEqual(warnings, []);
    assert.deepEqual(specs[0]?.logs, { maxSize: 1024 * 1024, retain: 3, daily: true, gzip: true, maxLineLength: 4096 });
    assert.equal(specs[0]?.accessLog, true);
    assert.deepEqual(specs[1]?.logs, DEFAULTS.logs);
    assert.equal(specs[1]?.accessLog, false);
    const bad = await file('herd.config.json', JSON.stringify({ apps: [
      { script: '../server.js', logs: { maxSize: 'huge', retain: -1, gzip: 'yes', maxLineLength: 10 }, accessLog: 1 },
    ] }));
    assert.deepEqual(await problems(bad), [
      "apps[0].logs.maxSize: must be a size of at least 1KB, like '10MB' or bytes; got \"huge\"",
      'apps[0].logs.retain: must be an integer >= 0 (rotated files kept); got -1',
      'apps[0].logs.gzip: must be true or false; got "yes"',
      'apps[0].logs.maxLineLength: must be a length between 80 and 16MB characters; got 10',
      'apps[0].accessLog: must be true or false; got 1',
    ]);
  });
});

describe('protection settings', () => {
  test('overload, healthCheck, stallTimeout, minReady and the top-level health endpoint', async () => {
    const cfg = await file('herd.config.js', `module.exports = {
      health: { port: 9000, shutdownDelay: '2s' },
      apps: [
        { name: 'api', script: '../server.js', overload: { maxEventLoopDelay: '100ms', maxInFlight: 50 },
          healthCheck: { path: '/status', interval: '2s' }, stallTimeout: '20s', minReady: 2 },
        { name: 'plain', script: '../server.js', health_check: '/up' },
      ],
    };`);
    const { specs, settings, warnings } = await loadTarget(cfg, options());
    assert.deepEqual(warnings, []);
    assert.deepEqual(settings, { health: { port: 9000, host: '127.0.0.1', shutdownDelay: 2000 }, prometheus: null, alerts: null, dashboard: null, fleet: null });
    const [api, plain] = specs;
    assert.deepEqual(api?.overload, {
      maxEventLoopDelay: 100, maxEventLoopUtilization: null, maxInFlight: 50, retryAfter: 1000,
      exempt: [...DEFAULTS.overload.exempt, '/status'],
    });
    assert.deepEqual(api?.healthCheck, { path: '/status', interval: 2000, timeout: 2000, failures: 3 });
    assert.equal(api?.stallTimeout, 20_000);
    assert.equal(api?.minReady, 2);
    assert.equal(plain?.overload, null);
    assert.deepEqual(plain?.healthCheck, { path: '/up', ...DEFAULTS.healthCheck });
    assert.equal(plain?.stallTimeout, DEFAULTS.stallTimeout);
    const script = await loadTarget(path.join(dir, 'server.js'), options());
    assert.equal(script.settings, null);
    assert.equal(script.specs[0]?.overload, null);
  });

  test('bad protection settings are problems with their paths', async () => {
    const cfg = await file('herd.config.json', JSON.stringify({
      health: { host: 'localhost' },
      apps: [{ script: '../server.js', overload: { maxEventLoopUtilization: 2, exempt: ['health'] }, healthCheck: { interval: 'often' }, minReady: -1 },
        { name: 'b', script: '../server.js', overload: {} }],
    }));
    assert.deepEqual(await problems(cfg), [
      'health.port: is required (the port of /ready and /live)',
      'apps[0].healthCheck.path: is required (the path to request, e.g. \'/health\')',
      "apps[0].healthCheck.interval: must be a duration of at least 100ms in ms or like '30s', '5m'; got \"often\"",
      'apps[0].minReady: must be an integer >= 0; got -1',
      'apps[0].overload.maxEventLoopUtilization: must be a number above 0 and at most 1 (a fraction of the time the loop is busy); got 2',
      "apps[0].overload.exempt[0]: must be a path starting with '/' and without spaces; got \"health\"",
      'apps[1].overload: sets no limit: give maxEventLoopDelay, maxEventLoopUtilization or maxInFlight',
    ]);
  });
});
