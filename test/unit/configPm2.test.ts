import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { before, describe, test } from 'node:test';
import { HerdError } from '../../src/errors';
import { isConfigFile, loadTarget, type LoadOptions, type LoadResult } from '../../src/config/load';
import { DEFAULTS, type AppSpec } from '../../src/config/types';
import { configFiles } from '../configFiles';

// PM2 ecosystem files as users have them: every key PM2 reads either becomes
// part of the spec or is warned about with the reason.

const files = configFiles('config-pm2');

/** Fake interpreters and commands on a private PATH, and a node binary with npm next to it. */
before(async () => {
  await files.ready();
  for (const rel of ['bin/python3', 'bin/python', 'bin/bash', 'bin/yarn', 'bin/pnpm', 'bin/ts-node', 'node/bin/node', 'node/bin/npm',
    'other/bin/npm', 'tools/run-me', 'home/.keep']) {
    await files.executable(rel);
  }
  await writeFile(path.join(files.dir(), 'not-executable'), 'echo hi\n');
  await writeFile(path.join(files.dir(), 'worker.py'), 'print("hi")\n');
  await writeFile(path.join(files.dir(), 'job.sh'), 'echo hi\n');
});

function options(extra: Partial<LoadOptions> = {}): LoadOptions {
  const dir = files.dir();
  return {
    ...files.options(),
    env: { PATH: path.join(dir, 'bin'), HOME: path.join(dir, 'home'), HERD_HOME: path.join(dir, 'herd-home') },
    interpreter: path.join(dir, 'node/bin/node'),
    ...extra,
  };
}

const at = (...parts: string[]) => path.join(files.dir(), ...parts);

/** A JSON config in the test directory, so `script: 'server.js'` and the cwd are that directory. */
function json(value: unknown): Promise<string> {
  return files.write(value);
}

async function load(target: string, opts = options()): Promise<LoadResult> {
  return loadTarget(target, opts);
}

async function one(app: Record<string, unknown>, opts = options()): Promise<{ spec: AppSpec; warnings: string[] }> {
  const { specs, warnings } = await load(await json({ apps: [app] }), opts).catch((e: unknown) => {
    throw e instanceof HerdError ? new Error(`${e.message}: ${e.details.join('; ')}`) : e;
  });
  assert.equal(specs.length, 1);
  return { spec: specs[0] as AppSpec, warnings: warnings.map((w) => w.replace(/^[^:]+: /, '')) };
}

async function failure(target: string, opts = options()): Promise<HerdError> {
  const err = await loadTarget(target, opts).then(() => assert.fail('expected the load to fail'), (e: unknown) => e);
  assert.ok(err instanceof HerdError, String(err));
  return err;
}

async function problems(target: string, opts = options()): Promise<string[]> {
  const err = await failure(target, opts);
  assert.equal(err.code, 'HERD_ERR_CONFIG_INVALID', err.message);
  return err.details;
}

const label = (file: string) => path.relative(files.dir(), file);

describe('.json files are read as PM2 reads them (JavaScript), without running code', () => {
  test('comments, trailing commas, single quotes and bare keys are accepted', async () => {
    const cfg = await files.text('ecosystem.json', `// made by hand
{
  /* the API */
  apps: [
    {
      'name': 'api',
      "script": "../server.js", // relative to the file
      "args": "--url http://x//y /* kept */",
      instances: 2,
      env: { A: 'it\\'s', B: -1.5, C: 0x10, },
    },
  ],
}
`);
    const { specs, warnings } = await load(cfg);
    assert.deepEqual(warnings, []);
    const [spec] = specs;
    assert.equal(spec?.name, 'api');
    assert.equal(spec?.script, at('server.js'));
    assert.deepEqual(spec?.args, ['--url', 'http://x//y', '/*', 'kept', '*/']);
    assert.equal(spec?.instances, 2);
    assert.equal(spec?.env.A, "it's");
    assert.equal(spec?.env.B, '-1.5');
    assert.equal(spec?.env.C, '16');
  });

  test('a syntax error names the file, line and column', async () => {
    const cfg = await files.text('ecosystem.json', '{\n  "apps": [\n    { "script": "server.js" "name": "x" }\n  ]\n}\n');
    assert.deepEqual(await problems(cfg), [`JSON syntax error at ${label(cfg)}:3:29: expected ',' or '}' after a property, got '"'`]);
    const unclosed = await files.text('ecosystem.json', '{ "apps": [\n');
    assert.deepEqual(await problems(unclosed), [`JSON syntax error at ${label(unclosed)}:2:1: unexpected end of file (an array is not closed)`]);
  });

  test('JavaScript in a .json file is refused, not run', async () => {
    const marker = at('ran');
    const cfg = await files.text('ecosystem.json',
      `{ "apps": [{ "script": require("child_process").execSync("touch ${marker}") }] }`);
    assert.deepEqual(await problems(cfg), [
      `JSON syntax error at ${label(cfg)}:1:24: 'require' is JavaScript; a .json file is read, not run (use ecosystem.config.js for code)`,
    ]);
    assert.equal(existsSync(marker), false);
  });

  test('env values that are objects or arrays become JSON strings, as PM2 does', async () => {
    const { spec } = await one({ script: 'server.js', env: { OBJ: { a: 1 }, LIST: [1, 'x'], NUM: 3, YES: true, NONE: null } });
    assert.deepEqual(
      { OBJ: spec.env.OBJ, LIST: spec.env.LIST, NUM: spec.env.NUM, YES: spec.env.YES, NONE: spec.env.NONE },
      { OBJ: '{"a":1}', LIST: '[1,"x"]', NUM: '3', YES: 'true', NONE: 'null' },
    );

    const fn = await files.text('ecosystem.config.js', "module.exports = { apps: [{ script: '../server.js', env: { F: () => 1, U: undefined } }] };");
    assert.deepEqual(await problems(fn), ['apps[0].env.F: must be a string, number, boolean, or an object or array (passed as JSON); got a function']);
  });
});

describe('YAML ecosystem files', () => {
  test('.yml and .yaml are config files, not scripts', () => {
    for (const f of ['process.yml', 'ecosystem.yaml', '/srv/app/pm2.yml', 'ecosystem.json5']) assert.equal(isConfigFile(f), true, f);
  });

  test('process.yml loads with env sections', async () => {
    const cfg = await files.text('process.yml', `
apps:
  - name: api
    script: ../server.js
    instances: 2
    env:
      NODE_ENV: development
      FLAGS: [a, b]
    env_production:
      NODE_ENV: production
`);
    const { specs, warnings } = await load(cfg, options({ envName: 'production' }));
    assert.deepEqual(warnings, []);
    assert.equal(specs[0]?.name, 'api');
    assert.equal(specs[0]?.instances, 2);
    assert.equal(specs[0]?.env.NODE_ENV, 'production');
    assert.equal(specs[0]?.env.FLAGS, '["a","b"]');
    assert.equal(specs[0]?.source.configFile, cfg);
  });

  test('a YAML syntax error names the file, line and column', async () => {
    const cfg = await files.text('process.yml', 'apps:\n  - name: a\n    script: b\n   bad: [\n');
    assert.deepEqual(await problems(cfg), [`YAML syntax error at ${label(cfg)}:4:1: Sequence item without - indicator`]);
  });

  test('loading a script or a JSON config loads neither yaml nor croner (the CLI stays light)', () => {
    const code = `
      const { loadTarget } = require('./src/config/load');
      const opts = { cwd: ${JSON.stringify(files.dir())}, env: {}, envName: null, overrides: {}, interpreter: process.execPath, cpus: 1 };
      loadTarget('server.js', opts)
        .then(() => loadTarget(${JSON.stringify(path.join(files.dir(), 'light.config.json'))}, opts))
        .then(() => console.log(JSON.stringify(Object.keys(require.cache).filter((k) => /node_modules[\\\\/](yaml|croner)[\\\\/]/.test(k)))));
    `;
    return writeFile(path.join(files.dir(), 'light.config.json'), '{ "apps": [{ "script": "server.js" }] }').then(() => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', code], { cwd: path.resolve(__dirname, '../..'), encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout.trim()), []);
    });
  });
});

describe('JavaScript configs that do not load', () => {
  test('a syntax error names the file, line and column (CommonJS and ESM)', async () => {
    const body = (exp: string) => `${exp} {\n  apps: [\n    { name: 'a' script: 'server.js' },\n  ],\n};\n`;
    const cjs = await files.text('ecosystem.config.js', body('module.exports ='));
    assert.deepEqual(await problems(cjs), [`JavaScript syntax error at ${label(cjs)}:3:17: Unexpected identifier 'script'`]);
    const esm = await files.text('ecosystem.config.mjs', body('export default'));
    assert.deepEqual(await problems(esm), [`JavaScript syntax error at ${label(esm)}:3:17: Unexpected identifier 'script'`]);
  });

  test('a syntax error in a file the config requires names that file', async () => {
    const sub = 'required-helper';
    const helper = await files.text('apps.js', "module.exports = [\n  { script: '../server.js' name: 'x' },\n];\n", sub);
    const cfg = await files.text('ecosystem.config.js', "module.exports = { apps: require('./apps.js') };", sub);
    assert.deepEqual(await problems(cfg), [`JavaScript syntax error at ${label(helper)}:2:28: Unexpected identifier 'name'`]);
  });

  test('a config that throws is reported with where it threw', async () => {
    const cfg = await files.text('herd.config.js', "const x = 1;\nthrow new Error('boom');\n");
    assert.deepEqual(await problems(cfg), [`cannot load: Error: boom (at ${label(cfg)}:2:7)`]);
  });
});

describe('app names herd can log under', () => {
  test('a name too long for a log file name is a problem with its path', async () => {
    const cfg = await json({ apps: [{ name: 'x'.repeat(300), script: 'server.js' }] });
    assert.deepEqual(await problems(cfg), ["apps[0].name: must be at most 128 bytes (it is part of the app's log file names); got 300"]);
  });

  test('--name is checked the same way, as a usage error (exit 2)', async () => {
    const err = await failure('server.js', options({ overrides: { name: 'é'.repeat(100) } }));
    assert.equal(err.code, 'HERD_ERR_USAGE');
    assert.equal(err.message, "--name: must be at most 128 bytes (it is part of the app's log file names); got 200; pick another with --name");
  });

  test('separators, control characters, dot names, a leading dash and all are refused', async () => {
    const cfg = await json({ apps: ['a/b', 'a\\b', 'tab\there', 'del\u007f', '.', '..', '-api', 'all', ' '].map((name) => ({ name, script: 'server.js' })) });
    assert.deepEqual(await problems(cfg), [
      'apps[0].name: must not contain path separators or control characters; got "a/b"',
      'apps[1].name: must not contain path separators or control characters; got "a\\\\b"',
      'apps[2].name: must not contain path separators or control characters; got "tab\\there"',
      'apps[3].name: must not contain path separators or control characters; got "del\u007f"',
      `apps[4].name: must not be '.' or '..'`,
      `apps[5].name: must not be '.' or '..'`,
      "apps[6].name: must not start with '-' (it would read as an option on the command line); got \"-api\"",
      "apps[7].name: 'all' is reserved (it means every app in CLI commands)",
      'apps[8].name: must be a non-empty string; got " "',
    ]);
  });

  test('names real ecosystem files use are accepted', async () => {
    const names = ['my api', '@acme/api'.replace('/', '-'), 'api:v2', 'api.prod', 'ünïcode-api', 'API_2', '.hidden'];
    const { specs } = await load(await json({ apps: names.map((name) => ({ name, script: 'server.js' })) }));
    assert.deepEqual(specs.map((s) => s.name), names);
  });

  test('a name taken from a script file name is checked too', async () => {
    const long = `${'s'.repeat(140)}.js`;
    await writeFile(at(long), '');
    const cfg = await json({ apps: [{ script: long }] });
    assert.deepEqual(await problems(cfg), [
      `apps[0].name: "${'s'.repeat(140)}" (from the script): must be at most 128 bytes (it is part of the app's log file names); got 140; set name`,
    ]);
  });
});

describe("PM2's log paths", () => {
  test('out_file, error_file and log_file resolve against the app cwd; ~ is home; /dev/null and NULL discard', async () => {
    const { spec, warnings } = await one({ script: 'server.js', out_file: 'logs/out.log', error_file: '~/err.log', log_file: '/var/log/app.log' });
    assert.deepEqual(warnings, []);
    assert.deepEqual(spec.logFiles, { out: at('logs/out.log'), err: at('home/err.log'), combined: '/var/log/app.log' });
    const aliases = await one({ script: 'server.js', output: 'o.log', error: 'NULL', log: 'all.log' });
    assert.deepEqual(aliases.spec.logFiles, { out: at('o.log'), err: '/dev/null', combined: at('all.log') });
    const others = await one({ script: 'server.js', out: '/dev/null', err_file: 'e.log' });
    assert.deepEqual(others.spec.logFiles, { out: '/dev/null', err: at('e.log'), combined: null });
  });

  test('log_file: true is a combined file in the log directory; false is none', async () => {
    const { spec } = await one({ name: 'api', script: 'server.js', log_file: true, out_file: false });
    assert.deepEqual(spec.logFiles, { out: null, err: null, combined: at('herd-home', 'logs', 'api-combined.log') });
    const moved = await one({ name: 'api', script: 'server.js', log_file: true }, options({ env: { ...options().env, HERD_LOG_DIR: at('elsewhere') } }));
    assert.equal(moved.spec.logFiles.combined, at('elsewhere', 'api-combined.log'));
    assert.deepEqual((await one({ script: 'server.js', log_file: false })).spec.logFiles, { out: null, err: null, combined: null });
  });

  test("out_file and error_file naming one file are that app's combined file", async () => {
    const { spec } = await one({ script: 'server.js', out_file: 'app.log', error_file: './app.log' });
    assert.deepEqual(spec.logFiles, { out: null, err: null, combined: at('app.log') });
  });

  test("herd's logFiles key", async () => {
    const { spec, warnings } = await one({ script: 'server.js', logFiles: { out: 'o.log', combined: 'all.log' }, out_file: 'other.log' });
    assert.deepEqual(spec.logFiles, { out: at('o.log'), err: null, combined: at('all.log') });
    assert.deepEqual(warnings, ["apps[0].out_file: also set as 'logFiles.out'; ignored"]);
  });

  test('what herd does differently is warned about once, with the reason', async () => {
    const split = await one({ script: 'server.js', instances: 2, out_file: 'out.log', merge_logs: false, log_date_format: 'YYYY-MM-DD HH:mm Z', log_type: 'json' });
    assert.deepEqual(split.warnings, [
      "apps[0].log_date_format: herd stamps every line with an ISO-8601 UTC time (2024-05-01T12:00:00.000Z); the format is not configurable; ignored",
      'apps[0].log_type: herd\'s log files have one format (`herd logs --json` prints JSON lines); ignored',
      'apps[0].merge_logs: false: PM2 writes one file per instance (out-0.log, out-1.log, ...); herd writes every worker to the one file, with the worker id on each line',
    ]);
    const clustered = await one({ script: 'server.js', instances: 2, exec_mode: 'cluster', error_file: 'err.log' });
    assert.deepEqual(clustered.warnings, [
      'apps[0].error_file: PM2 writes one file per instance in cluster mode unless merge_logs is true (err-0.log, err-1.log, ...); herd writes every worker to the one file, with the worker id on each line',
    ]);
    for (const app of [
      { script: 'server.js', instances: 2, out_file: 'out.log', merge_logs: true, time: true },
      { script: 'server.js', instances: 2, out_file: '/dev/null', combine_logs: false },
      { script: 'server.js', out_file: 'out.log', merge_logs: false },
      { script: 'server.js', merge_logs: false, time: true },
    ]) {
      assert.deepEqual((await one(app)).warnings, [], JSON.stringify(app));
    }
    assert.deepEqual((await one({ script: 'server.js', time: false })).warnings, [
      "apps[0].time: herd's log lines always start with an ISO-8601 UTC time; ignored",
    ]);
  });

  test('bad log paths are problems', async () => {
    const cfg = await json({ apps: [{ script: 'server.js', out_file: 5, error_file: '', log_file: 'yes please'.length }] });
    assert.deepEqual(await problems(cfg), [
      'apps[0].out_file: must be a file path (or /dev/null); got 5',
      'apps[0].error_file: must be a file path (or /dev/null); got ""',
      'apps[0].log_file: must be a file path, true (a combined file in the log directory) or false; got 10',
    ]);
  });
});

describe('instance_var, cron_restart, watch', () => {
  test('instance_var renames NODE_APP_INSTANCE; it must be a variable name', async () => {
    assert.equal((await one({ script: 'server.js' })).spec.instanceVar, DEFAULTS.instanceVar);
    assert.equal((await one({ script: 'server.js', instance_var: 'INSTANCE_ID' })).spec.instanceVar, 'INSTANCE_ID');
    assert.equal((await one({ script: 'server.js', instanceVar: 'WORKER' })).spec.instanceVar, 'WORKER');
    assert.deepEqual(await problems(await json({ apps: [{ script: 'server.js', instance_var: 'MY-ID' }] })), [
      'apps[0].instance_var: must be an environment variable name (letters, digits and _, not starting with a digit); got "MY-ID"',
    ]);
  });

  test('cron_restart is checked with croner; 0 turns it off as in PM2; cron is a job, not its alias', async () => {
    assert.equal((await one({ script: 'server.js', cron_restart: '0 3 * * *' })).spec.cronRestart, '0 3 * * *');
    const job = (await one({ script: 'server.js', cron: '*/15 * * * *' })).spec;
    assert.deepEqual([job.cronRestart, job.job], [null, { schedule: '*/15 * * * *', timezone: null, fleet: false }]);
    assert.equal((await one({ script: 'server.js', cronRestart: '@daily' })).spec.cronRestart, '@daily');
    assert.equal((await one({ script: 'server.js' })).spec.cronRestart, null);
    for (const off of [0, '0']) assert.deepEqual(await one({ script: 'server.js', cron_restart: off }).then((r) => [r.spec.cronRestart, r.warnings]), [null, []]);
    assert.deepEqual(await problems(await json({ apps: [{ script: 'server.js', cron_restart: '61 * * * *' }, { name: 'b', script: 'server.js', cron_restart: true }] })), [
      'apps[0].cron_restart: not a cron expression: Invalid value for minute: 61',
      "apps[1].cron_restart: must be a cron expression like '0 3 * * *'; got true",
    ]);
  });

  test('watch: true is the app cwd; a path or paths resolve against it; ignore_watch and watch_delay', async () => {
    const cwd = path.join(files.dir(), 'case-watch');
    const base = { script: '../server.js', cwd };
    await files.text('.keep', '', 'case-watch');
    const w = async (app: Record<string, unknown>) => (await one({ ...base, ...app })).spec.watch;
    assert.deepEqual(await w({ watch: true }), { paths: [cwd], ignore: [], delay: DEFAULTS.watchDelay });
    assert.deepEqual(await w({ watch: 'src' }), { paths: [path.join(cwd, 'src')], ignore: [], delay: DEFAULTS.watchDelay });
    assert.deepEqual(await w({ watch: ['src', '/etc/app.conf'], ignore_watch: ['node_modules', '*.log', '/tmp/x'], watch_delay: 250 }), {
      paths: [path.join(cwd, 'src'), '/etc/app.conf'], ignore: [path.join(cwd, 'node_modules'), path.join(cwd, '*.log'), '/tmp/x'], delay: 250,
    });
    assert.deepEqual(await w({ watch: true, ignore_watch: 'logs' }), { paths: [cwd], ignore: [path.join(cwd, 'logs')], delay: DEFAULTS.watchDelay });
    assert.deepEqual(await w({ watch: [] }), { paths: [cwd], ignore: [], delay: DEFAULTS.watchDelay }, 'PM2 watches the cwd for an empty list');
    for (const off of [false, '', null]) assert.equal(await w({ watch: off, ignore_watch: 'x' }), null, String(off));
    assert.deepEqual(await w({ watch: { paths: ['lib'], ignore: ['lib/gen'], delay: '2s' } }), {
      paths: [path.join(cwd, 'lib')], ignore: [path.join(cwd, 'lib/gen')], delay: 2000,
    });
  });

  test('bad watch settings are problems; options herd has no equivalent for are warned about', async () => {
    assert.deepEqual(await problems(await json({ apps: [{ script: 'server.js', watch: 5, ignore_watch: [3], watch_delay: 'soon' }] })), [
      'apps[0].watch: must be true, a path or an array of paths; got 5',
      'apps[0].ignore_watch[0]: must be a path or glob; got 3',
      "apps[0].watch_delay: must be a duration in ms or like '30s', '5m'; got \"soon\"",
    ]);
    const cfg = await files.text('ecosystem.config.js', `module.exports = { apps: [{ script: '../server.js', watch: true,
      ignore_watch: [/node_modules/, 'logs'], watch_options: { usePolling: true } }] };`);
    const { specs, warnings } = await load(cfg);
    assert.deepEqual(specs[0]?.watch?.ignore, [path.join(path.dirname(cfg), 'logs')]);
    assert.deepEqual(warnings.map((x) => x.replace(/^[^:]+: /, '')), [
      "apps[0].watch_options: herd's watcher takes no chokidar options (only watch, ignore_watch and watch_delay); ignored",
      'apps[0].ignore_watch[0]: a regular expression cannot be passed to the daemon; write it as a glob (e.g. \'**/node_modules\'); ignored',
    ]);
  });
});

describe('runners: npm, other interpreters, binaries', () => {
  const npm = () => at('node/bin/npm');

  test("script: 'npm' with args runs npm itself, found next to the node binary, in fork mode", async () => {
    const { spec, warnings } = await one({ script: 'npm', args: 'start' });
    assert.deepEqual(warnings, []);
    assert.deepEqual([spec.runner, spec.interpreter, spec.script, spec.args, spec.execMode], ['exec', '', npm(), ['start'], 'fork']);
    assert.equal(spec.name, 'npm');
    const dev = await one({ name: 'dev', script: 'npm', args: ['run', 'dev'] });
    assert.deepEqual(dev.spec.args, ['run', 'dev']);
  });

  test("a script with spaces that is not a file is split as PM2 does: 'npm run start', 'npm start'", async () => {
    const { spec } = await one({ name: 'web', script: 'npm run start', args: '--port 3000' });
    assert.deepEqual([spec.runner, spec.interpreter, spec.script, spec.args], ['exec', '', npm(), ['run', 'start', '--port', '3000']]);
    assert.deepEqual((await one({ name: 'web', script: 'npm start' })).spec.args, ['start']);
    const bare = await one({ script: 'npm start' });
    assert.equal(bare.spec.name, 'npm start', 'PM2 names such an app after the whole command');
  });

  test('a command with shell syntax runs through bash -c, as PM2 runs every script with spaces', async () => {
    const { spec } = await one({ name: 'build-and-serve', script: 'npm run build && npm start' });
    assert.deepEqual([spec.runner, spec.interpreter, spec.script, spec.args], ['exec', '', at('bin/bash'), ['-c', 'npm run build && npm start']]);
  });

  test('npm is looked up on PATH when it is not next to node; yarn and pnpm too; a missing one is a problem', async () => {
    const nodeless = at('bin', 'nodeless');
    const elsewhere = options({ interpreter: nodeless, env: { ...options().env, PATH: [at('bin'), at('other/bin')].join(path.delimiter) } });
    assert.equal((await one({ script: 'npm', args: 'start' }, elsewhere)).spec.script, at('other/bin/npm'));
    assert.equal((await one({ script: 'yarn', args: 'start' })).spec.script, at('bin/yarn'));
    assert.deepEqual((await one({ script: 'pnpm start' })).spec.args, ['start']);
    const cfg = await json({ apps: [{ script: 'npm', args: 'start' }, { name: 'b', script: 'nope', args: 'start' }] });
    assert.deepEqual(await problems(cfg, options({ interpreter: nodeless })), [
      `apps[0].script: npm not found next to ${nodeless} or on PATH`,
      `apps[1].script: file not found: ${path.join(path.dirname(cfg), 'nope')}, and no command "nope" on PATH`,
    ]);
  });

  test('cluster mode with a command is run in fork mode, with a warning', async () => {
    const { spec, warnings } = await one({ script: 'npm', args: 'start', exec_mode: 'cluster', instances: 2 });
    assert.deepEqual([spec.execMode, spec.instances], ['fork', 2]);
    assert.deepEqual(warnings, [
      "apps[0].exec_mode: cluster mode needs a Node.js script (its workers share the port through Node's cluster module); npm runs in fork mode: 2 separate processes",
    ]);
  });

  test("interpreter: 'none' runs the script itself, which must be executable", async () => {
    const { spec } = await one({ script: 'tools/run-me', interpreter: 'none' });
    assert.deepEqual([spec.runner, spec.interpreter, spec.script, spec.execMode], ['exec', '', at('tools/run-me'), 'fork']);
    assert.deepEqual(await problems(await json({ apps: [{ script: 'not-executable', interpreter: 'none' }] })), [
      `apps[0].script: ${at('not-executable')} is not executable (chmod +x it, or set an interpreter)`,
    ]);
  });

  test('python3, bash and other interpreters run with the exec runner; interpreter_args are their arguments', async () => {
    const { spec, warnings } = await one({ script: 'worker.py', interpreter: 'python3', interpreter_args: '-u -X dev', exec_mode: 'cluster' });
    assert.deepEqual([spec.runner, spec.interpreter, spec.script, spec.nodeArgs, spec.execMode],
      ['exec', at('bin/python3'), at('worker.py'), ['-u', '-X', 'dev'], 'fork']);
    assert.equal(spec.env.PYTHONUNBUFFERED, '1', 'as PM2 does, so that lines reach the log as they are printed');
    assert.deepEqual(warnings, [
      "apps[0].exec_mode: cluster mode needs a Node.js script (its workers share the port through Node's cluster module); python3 runs in fork mode",
    ]);
    const abs = await one({ script: 'job.sh', exec_interpreter: at('bin/bash') });
    assert.deepEqual([abs.spec.runner, abs.spec.interpreter], ['exec', at('bin/bash')]);
    const ts = await one({ script: 'server.js', interpreter: 'ts-node' });
    assert.deepEqual([ts.spec.runner, ts.spec.interpreter], ['exec', at('bin/ts-node')]);
  });

  test('the interpreter is inferred from the extension as PM2 does (.py, .sh)', async () => {
    const py = await one({ script: 'worker.py' });
    assert.deepEqual([py.spec.runner, py.spec.interpreter], ['exec', at('bin/python')]);
    const sh = await one({ script: 'job.sh' });
    assert.deepEqual([sh.spec.runner, sh.spec.interpreter], ['exec', at('bin/bash')]);
  });

  test('a node binary stays the node runner; a missing interpreter is a problem', async () => {
    const node = await one({ script: 'server.js', interpreter: process.execPath });
    assert.deepEqual([node.spec.runner, node.spec.interpreter], ['node', process.execPath]);
    assert.deepEqual(await problems(await json({ apps: [{ script: 'server.js', interpreter: 'ruby' }, { name: 'b', script: 'server.js', interpreter: '/nope/python3' }] })), [
      'apps[0].interpreter: ruby not found on PATH',
      'apps[1].interpreter: not found: /nope/python3',
    ]);
  });

  test('a script target runs the same way: herd start worker.py, herd start npm -- start', async () => {
    const [py] = (await load('worker.py')).specs;
    assert.deepEqual([py?.runner, py?.interpreter, py?.script, py?.execMode, py?.stallTimeout], ['exec', at('bin/python'), at('worker.py'), 'fork', 0]);
    const { specs, warnings } = await load('npm', options({ overrides: { args: ['start'], execMode: 'cluster' } }));
    assert.deepEqual([specs[0]?.name, specs[0]?.runner, specs[0]?.interpreter, specs[0]?.script, specs[0]?.args], ['npm', 'exec', '', at('node/bin/npm'), ['start']]);
    assert.deepEqual(warnings, ["--exec-mode: cluster mode needs a Node.js script (its workers share the port through Node's cluster module); npm runs in fork mode"]);
    await assert.rejects(load('nope.js'), (e: unknown) => e instanceof HerdError && e.code === 'HERD_ERR_SCRIPT_NOT_FOUND');
    await assert.rejects(load('nope'), (e: unknown) => e instanceof HerdError && e.code === 'HERD_ERR_SCRIPT_NOT_FOUND');
  });

  test('settings that need the agent in a Node.js worker are warned about with a command', async () => {
    const { spec, warnings } = await one({ script: 'npm', args: 'start', accessLog: true, waitReady: true, healthCheck: '/health', node_args: '--inspect', stall_timeout: '5s' });
    assert.deepEqual(warnings, [
      'apps[0].node_args: npm runs without an interpreter, so there is nothing to pass them to; ignored',
      "apps[0].waitReady: needs herd's agent, which runs only in Node.js workers; ignored for npm",
      "apps[0].accessLog: needs herd's agent, which runs only in Node.js workers; ignored for npm",
      "apps[0].healthCheck: needs herd's agent, which runs only in Node.js workers; ignored for npm",
      "apps[0].stall_timeout: needs herd's agent, which runs only in Node.js workers; ignored for npm",
    ]);
    assert.deepEqual([spec.waitReady, spec.accessLog, spec.healthCheck, spec.overload, spec.stallTimeout, spec.nodeArgs], [false, false, null, null, 0, []]);
    const quiet = await one({ script: 'npm', args: 'start', stallTimeout: 0, waitReady: false });
    assert.deepEqual([quiet.warnings, quiet.spec.stallTimeout], [[], 0], 'the stall watchdog is off without the agent');
  });
});

describe('command-line overrides: --node-args, --watch, --max-memory-restart, --exec-mode', () => {
  const overrides = { nodeArgs: '--max-old-space-size=512 --title "my api"', watch: true, maxMemory: '256M', execMode: 'fork' };

  test('apply to a script, and are kept for reload', async () => {
    const [spec] = (await load('server.js', options({ overrides }))).specs;
    assert.ok(spec);
    assert.deepEqual(spec.nodeArgs, ['--max-old-space-size=512', '--title', 'my api']);
    assert.deepEqual(spec.watch, { paths: [files.dir()], ignore: [], delay: DEFAULTS.watchDelay });
    assert.equal(spec.maxMemory, 256 * 1024 * 1024);
    assert.equal(spec.execMode, 'fork');
    assert.deepEqual(spec.source.cliOverrides, overrides);
  });

  test('apply to a config file app; --watch keeps the file\'s ignore_watch and watch_delay', async () => {
    const cfg = await json({ apps: [{ script: 'server.js', node_args: '--inspect', max_memory_restart: '1G', ignore_watch: 'logs', watch_delay: 10 }] });
    const [spec] = (await load(cfg, options({ overrides }))).specs;
    assert.ok(spec);
    assert.deepEqual(spec.nodeArgs, ['--max-old-space-size=512', '--title', 'my api']);
    assert.deepEqual(spec.watch, { paths: [path.dirname(cfg)], ignore: [path.join(path.dirname(cfg), 'logs')], delay: 10 });
    assert.equal(spec.maxMemory, 256 * 1024 * 1024);
    assert.equal(spec.execMode, 'fork');
    assert.deepEqual(spec.source.cliOverrides, overrides);
  });

  test('--watch applies to every app (as in PM2) and keeps paths the file gives; the others need one app', async () => {
    const cfg = await json({ apps: [{ name: 'a', script: 'server.js', watch: 'lib' }, { name: 'b', script: 'server.js' }] });
    const { specs } = await load(cfg, options({ overrides: { watch: true } }));
    assert.deepEqual(specs.map((s) => s.watch?.paths), [[path.join(path.dirname(cfg), 'lib')], [path.dirname(cfg)]]);
    assert.deepEqual(await problems(cfg, options({ overrides: { nodeArgs: '--inspect', maxMemory: '1G', execMode: 'fork' } })), [
      '--node-args: applies to a single app, but 2 apps are selected (pick one with --only)',
      '--max-memory-restart: applies to a single app, but 2 apps are selected (pick one with --only)',
      '--exec-mode: applies to a single app, but 2 apps are selected (pick one with --only)',
    ]);
  });

  test('bad values name the flag', async () => {
    for (const [o, message] of [
      [{ maxMemory: 'lots' }, `--max-memory-restart: must be a size like '512M' or '1G'; got "lots"`],
      [{ execMode: 'threads' }, `--exec-mode: must be 'fork' or 'cluster'; got "threads"`],
      [{ nodeArgs: '--title "unclosed' }, '--node-args: a quote is not closed; got "--title \\"unclosed"'],
    ] as const) {
      const err = await failure('server.js', options({ overrides: o }));
      assert.equal(err.code, 'HERD_ERR_USAGE');
      assert.equal(err.message, message);
      const cfg = await json({ apps: [{ script: 'server.js' }] });
      assert.deepEqual(await problems(cfg, options({ overrides: o })), [message]);
    }
  });

  test('--exec-mode cluster with a command keeps fork mode, with a warning', async () => {
    const cfg = await json({ apps: [{ script: 'npm', args: 'start' }] });
    const { specs, warnings } = await load(cfg, options({ overrides: { execMode: 'cluster' } }));
    assert.equal(specs[0]?.execMode, 'fork');
    assert.match(warnings.join('\n'), /--exec-mode: cluster mode needs a Node\.js script .*npm runs in fork mode/);
  });
});

describe('PM2 keys herd does not support', () => {
  test('each is warned about once, with the reason; turning a feature off is silent', async () => {
    const { warnings } = await one({
      script: 'server.js', pid_file: 'x.pid', increment_var: 'PORT', username: 'www', namespace: 'shop', vizion: true,
      stop_exit_codes: [0], shutdown_with_message: true, disable_logs: true, pmx: false,
    });
    const keys = warnings.map((w) => /^apps\[0\]\.(\w+): /.exec(w)?.[1]);
    assert.deepEqual(keys, ['pid_file', 'increment_var', 'username', 'namespace', 'vizion', 'stop_exit_codes', 'shutdown_with_message', 'disable_logs']);
    for (const w of warnings) {
      assert.doesNotMatch(w, /PM2 option not supported by herd; ignored$/, 'a reason, not just "not supported"');
      assert.match(w, /; ignored$/);
    }
    assert.deepEqual((await one({ script: 'server.js', namespace: 'default', windowsHide: true, source_map_support: false, treekill: true })).warnings
      .map((w) => /^apps\[0\]\.(\w+): /.exec(w)?.[1]), ['treekill']);
  });

  test("every key of PM2's schema (and its aliases) is read into the spec or warned about", async () => {
    const schema = require('pm2/lib/API/schema.json') as Record<string, { type: string | string[]; alias?: string | string[] }>;
    // Keys whose sample value maps onto the spec without a warning.
    const read = new Set(['script', 'exec', 'name', 'cwd', 'args', 'exec_interpreter', 'interpreter', 'node_args', 'interpreterArgs',
      'interpreter_args', 'out_file', 'out', 'output', 'out_log', 'error_file', 'error', 'err', 'err_file', 'err_log', 'log_file', 'log',
      'env', 'max_memory_restart', 'restart_delay', 'exp_backoff_restart_delay', 'wait_ready', 'instances', 'kill_timeout', 'listen_timeout',
      'cron_restart', 'cron', 'merge_logs', 'combine_logs', 'autostart', 'autorestart', 'watch_delay', 'watch', 'ignore_watch', 'min_uptime',
      'max_restarts', 'exec_mode', 'instance_var', 'port', 'time', 'source_map_support', 'append_env_to_name', 'disable_source_map_support',
      'disable_trace', 'windowsHide', 'uid', 'user', 'gid']);
    const sample: Record<string, unknown> = {
      script: 'server.js', exec: 'server.js', exec_interpreter: 'node', interpreter: 'node', cwd: '.', instances: 1, exec_mode: 'fork',
      cron_restart: '0 3 * * *', cron: '0 3 * * *', max_memory_restart: '1G', env: {}, instance_var: 'ID', port: 3000, min_uptime: 10,
      log_file: true, log: true, watch: true, name: 'sample', autostart: true, uid: 'root', user: 'root', gid: 0,
    };
    const byType = (t: string | string[]) => {
      const first = Array.isArray(t) ? t[0] : t;
      return first === 'boolean' ? true : first === 'number' ? 1 : first === 'array' ? ['x'] : first === 'object' ? { a: 1 } : 'x';
    };
    const keys = Object.entries(schema).filter(([k]) => !k.startsWith('^'))
      .flatMap(([k, v]) => [k, ...[v.alias ?? []].flat()].map((name) => [name, v.type] as const));
    assert.ok(keys.length >= 80, `${keys.length} keys`);
    for (const [key, type] of keys) {
      const app: Record<string, unknown> = key === 'exec' ? {} : { script: 'server.js' };
      app[key] = key in sample ? sample[key] : byType(type);
      const { warnings } = await load(await json({ apps: [app] }));
      const mine = warnings.filter((w) => w.includes(`apps[0].${key}:`));
      if (read.has(key)) assert.deepEqual(mine, [], `${key} is read`);
      else {
        assert.equal(mine.length, 1, `${key}: ${JSON.stringify(warnings)}`);
        assert.doesNotMatch(mine[0] ?? '', /PM2 option not supported by herd; ignored$/, key);
      }
    }
  });

  test('append_env_to_name adds --env to the name; source_map_support turns on --enable-source-maps', async () => {
    const { spec } = await one({ name: 'api', script: 'server.js', append_env_to_name: true, source_map_support: true }, options({ envName: 'staging' }));
    assert.equal(spec.name, 'api-staging');
    assert.deepEqual(spec.nodeArgs, ['--enable-source-maps']);
  });
});
