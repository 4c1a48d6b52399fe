import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import * as path from 'node:path';
import { describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { loadTarget, type LoadOptions, type LoadResult } from '../../src/config/load';
import { parseJsonLike } from '../../src/config/jsonLike';
import type { AppSpec } from '../../src/config/types';

// Real-world-shaped PM2 ecosystem files (test/fixtures/ecosystem/), loaded as
// `herd start <file>` would load them: what each key became, which warnings
// were given, and that no key in them is silently ignored. The apps they point
// at exist, so the same files can be started unchanged.

const FIXTURES = path.resolve(__dirname, '../fixtures/ecosystem');
const fixture = (...parts: string[]) => path.join(FIXTURES, ...parts);

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  return env;
}

function options(extra: Partial<LoadOptions> = {}): LoadOptions {
  return { cwd: FIXTURES, env: cleanEnv(), envName: null, overrides: {}, interpreter: process.execPath, cpus: 2, ...extra };
}

function onPath(command: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir !== '' && existsSync(path.join(dir, command))) return path.join(dir, command);
  }
  throw new Error(`${command} is not on PATH`);
}

/** Where each PM2 key of the fixtures lands in the spec. */
const READ_INTO: Record<string, keyof AppSpec> = {
  name: 'name', script: 'script', args: 'args', cwd: 'cwd', instances: 'instances', exec_mode: 'execMode',
  interpreter: 'interpreter', interpreter_args: 'nodeArgs', env: 'env', env_production: 'env', instance_var: 'instanceVar',
  cron_restart: 'cronRestart', watch: 'watch', ignore_watch: 'watch', watch_delay: 'watch',
  out_file: 'logFiles', error_file: 'logFiles', log_file: 'logFiles',
  // herd always writes every worker to one file, with a time on each line: what these ask for.
  merge_logs: 'logFiles', time: 'logs',
  max_memory_restart: 'maxMemory', kill_timeout: 'killTimeout', listen_timeout: 'listenTimeout',
  max_restarts: 'crashLoop', min_uptime: 'crashLoop', autorestart: 'autorestart',
};

function rawApps(file: string): Record<string, unknown>[] {
  const text = readFileSync(file, 'utf8');
  const raw = file.endsWith('.js') ? require(file) : file.endsWith('.json') ? parseJsonLike(text) : parseYaml(text);
  return (raw as { apps: Record<string, unknown>[] }).apps;
}

/** Every key of every app is read into the spec or named in a warning. */
function assertNothingIgnored(file: string, result: LoadResult): void {
  rawApps(file).forEach((app, i) => {
    for (const key of Object.keys(app)) {
      const warned = result.warnings.some((w) => w.includes(`apps[${i}].${key}:`));
      assert.ok(key in READ_INTO || warned, `${path.basename(file)}: apps[${i}].${key} is neither read nor warned about`);
    }
  });
}

const strip = (warnings: string[]) => warnings.map((w) => w.replace(/^[^:]+: /, ''));

describe('real-world PM2 ecosystem files', () => {
  test('ecosystem.config.js: cluster, env_production, cron, watch, instance_var, log paths', async () => {
    const file = fixture('ecosystem.config.js');
    const result = await loadTarget(file, options({ envName: 'production' }));
    const [spec] = result.specs;
    assert.ok(spec);
    assert.equal(spec.name, 'shop-api');
    assert.equal(spec.script, fixture('api.js'));
    assert.equal(spec.cwd, FIXTURES);
    assert.deepEqual([spec.runner, spec.interpreter, spec.execMode, spec.instances], ['node', process.execPath, 'cluster', 2]);
    assert.equal(spec.instanceVar, 'INSTANCE_ID');
    assert.equal(spec.cronRestart, '0 3 * * *');
    assert.deepEqual(spec.watch, {
      paths: [fixture('api.js'), fixture('lib')],
      ignore: [fixture('node_modules'), fixture('logs'), fixture('*.log')],
      delay: 500,
    });
    assert.deepEqual(spec.logFiles, {
      out: fixture('logs/shop-api-out.log'), err: fixture('logs/shop-api-error.log'), combined: fixture('logs/shop-api-combined.log'),
    });
    assert.equal(spec.maxMemory, 300 * 1024 * 1024);
    assert.equal(spec.killTimeout, 8000);
    assert.equal(spec.env.NODE_ENV, 'production');
    assert.equal(spec.env.GREETING, 'welcome');
    assert.equal(spec.env.PORT, String(Number(process.env.PORT) || 3000));
    assert.equal(spec.env.FEATURES, '{"search":true,"beta":["cart"]}');
    assert.deepEqual(strip(result.warnings), [
      'apps[0].log_date_format: herd stamps every line with an ISO-8601 UTC time (2024-05-01T12:00:00.000Z); the format is not configurable; ignored',
    ]);
    assertNothingIgnored(file, result);
    // 'max' is the CPU count of the machine that starts it.
    assert.equal((await loadTarget(file, options({ cpus: cpus().length }))).specs[0]?.instances, cpus().length);
  });

  test('ecosystem.json with comments and trailing commas', async () => {
    const file = fixture('ecosystem.json');
    const result = await loadTarget(file, options());
    const [spec] = result.specs;
    assert.ok(spec);
    assert.deepEqual([spec.name, spec.script, spec.instances, spec.execMode], ['json-api', fixture('api.js'), 2, 'cluster']);
    assert.equal(spec.env.NODE_ENV, 'production');
    assert.equal(spec.env.MAX_BODY_KB, '512');
    assert.equal(spec.crashLoop.maxCrashes, 10);
    assert.equal(spec.crashLoop.minUptime, 5000);
    assert.equal(spec.watch, null);
    assert.deepEqual(spec.logFiles, { out: null, err: null, combined: null });
    assert.deepEqual(result.warnings, []);
    assertNothingIgnored(file, result);
  });

  test('process.yml', async () => {
    const file = fixture('process.yml');
    const result = await loadTarget(file, options());
    const [spec] = result.specs;
    assert.ok(spec);
    assert.deepEqual([spec.name, spec.script, spec.instances, spec.execMode], ['yaml-api', fixture('api.js'), 2, 'cluster']);
    assert.deepEqual([spec.env.NODE_ENV, spec.env.LOG_LEVEL], ['production', 'info']);
    assert.deepEqual(spec.logFiles, { out: '/dev/null', err: fixture('logs/yaml-api-error.log'), combined: null });
    assert.deepEqual([spec.killTimeout, spec.listenTimeout], [3000, 8000]);
    assert.deepEqual(strip(result.warnings), [
      'apps[0].error_file: PM2 writes one file per instance in cluster mode unless merge_logs is true (yaml-api-error-0.log, yaml-api-error-1.log, ...); herd writes every worker to the one file, with the worker id on each line',
    ]);
    assertNothingIgnored(file, result);
  });

  test("npm-app: script 'npm' with args 'start'", async () => {
    const file = fixture('npm-app/ecosystem.config.js');
    const result = await loadTarget(file, options());
    const [spec] = result.specs;
    assert.ok(spec);
    const besideNode = path.join(path.dirname(process.execPath), 'npm');
    const npm = existsSync(besideNode) ? besideNode : onPath('npm');
    assert.deepEqual([spec.name, spec.runner, spec.interpreter, spec.script, spec.args, spec.execMode, spec.cwd],
      ['npm-app', 'exec', '', npm, ['start'], 'fork', fixture('npm-app')]);
    assert.equal(spec.env.PORT, process.env.PORT ?? '3003');
    assert.ok(existsSync(fixture('npm-app/server.js')));
    assert.deepEqual(result.warnings, []);
    assertNothingIgnored(file, result);
  });

  test('python-app: interpreter python3 with interpreter_args', async () => {
    const file = fixture('python-app/ecosystem.config.js');
    const result = await loadTarget(file, options());
    const [spec] = result.specs;
    assert.ok(spec);
    assert.deepEqual([spec.name, spec.runner, spec.interpreter, spec.script, spec.nodeArgs, spec.execMode],
      ['py-app', 'exec', onPath('python3'), fixture('python-app/app.py'), ['-u'], 'fork']);
    assert.equal(spec.env.PYTHONUNBUFFERED, '1');
    assert.deepEqual(result.warnings, []);
    assertNothingIgnored(file, result);
  });
});
