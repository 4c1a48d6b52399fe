import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { eventually, FIXTURES, freePort, get, herdHome, list } from '../helpers';

/**
 * Real-world-shaped PM2 ecosystem files, started unchanged: every key either
 * does what PM2 users expect or is warned about with its reason.
 */

/** A copy of the ecosystem fixtures: their relative log paths write next to them. */
function project(t: TestContext): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'herd-ecosystem-'));
  cpSync(path.join(FIXTURES, 'ecosystem'), dir, { recursive: true });
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Detail { cron: { next: string | null } | null; watch: unknown; workers: { pid: number | null }[]; execMode: string; instances: number }

test('ecosystem.config.js: env_production, instances max, instance_var, log files, cron_restart and watch all act', async (t) => {
  const dir = project(t);
  const { herd } = herdHome(t);
  const port = await freePort();
  const r = await herd(['start', path.join(dir, 'ecosystem.config.js'), '--env', 'production'], { PORT: String(port) });
  assert.equal(r.code, 0, r.stderr);
  // What herd does not do as PM2 does is said, with the reason, not ignored.
  assert.match(r.stderr, /log_date_format/);
  const reply = JSON.parse((await get(port)).body) as { greeting: string; instance: string; env: string; features: string };
  assert.equal(reply.env, 'production');
  assert.match(reply.instance, /^\d+$/, 'instance_var INSTANCE_ID carries the worker id');
  assert.deepEqual(JSON.parse(reply.features), { search: true, beta: ['cart'] }, 'object env values are JSON, as PM2 passes them');
  const d = JSON.parse((await herd(['describe', 'shop-api', '--json'])).stdout) as Detail;
  assert.equal(d.execMode, 'cluster');
  assert.ok(d.instances >= 1);
  assert.ok(d.cron?.next, 'the cron schedule is armed');
  assert.ok(d.watch, 'watch is on');
  // out_file, error_file and log_file receive the lines, next to the project.
  await eventually(() => {
    const out = path.join(dir, 'logs', 'shop-api-out.log');
    const err = path.join(dir, 'logs', 'shop-api-error.log');
    const combined = path.join(dir, 'logs', 'shop-api-combined.log');
    if (![out, err, combined].every(existsSync)) return undefined;
    const both = readFileSync(combined, 'utf8');
    const ok = readFileSync(out, 'utf8').includes('api listening') && readFileSync(err, 'utf8').includes('api stderr line')
      && both.includes('api listening') && both.includes('api stderr line');
    return ok ? true : undefined;
  }, 10_000, 'the PM2 log paths to carry the lines');
  // watch: editing a watched file reloads the app, and the new code serves.
  const before = new Set(d.workers.map((w) => w.pid));
  writeFileSync(path.join(dir, 'lib', 'greeting.js'), "exports.greeting = () => 'changed';\n");
  await eventually(async () => {
    const body = JSON.parse((await get(port)).body) as { greeting: string; pid: number };
    return body.greeting === 'changed' && !before.has(body.pid) ? true : undefined;
  }, 30_000, 'the watched change to be served by new workers');
});

test('ecosystem.json with comments and trailing commas, and process.yml, start unchanged', async (t) => {
  const dir = project(t);
  const { herd } = herdHome(t);
  const jsonPort = await freePort();
  const j = await herd(['start', path.join(dir, 'ecosystem.json')], { PORT: String(jsonPort) });
  assert.equal(j.code, 0, j.stderr);
  assert.equal(JSON.parse((await get(jsonPort)).body).env, 'production');
  const yamlPort = await freePort();
  const y = await herd(['start', path.join(dir, 'process.yml')], { PORT: String(yamlPort) });
  assert.equal(y.code, 0, y.stderr);
  assert.equal(JSON.parse((await get(yamlPort)).body).env, 'production');
  const apps = await list(herd);
  assert.deepEqual(apps.map((a) => [a.name, a.status, a.workers.length]).sort(), [['json-api', 'online', 2], ['yaml-api', 'online', 2]]);
  // out_file: /dev/null keeps stdout off the disk; error_file gets stderr.
  await eventually(() => {
    const err = path.join(dir, 'logs', 'yaml-api-error.log');
    return existsSync(err) && readFileSync(err, 'utf8').includes('api stderr line') ? true : undefined;
  }, 10_000, 'the YAML app\'s error_file');
});

test("script: 'npm' with args: 'start', and a python3 interpreter, run as PM2 runs them", async (t) => {
  const dir = project(t);
  const { herd } = herdHome(t);
  const npmPort = await freePort();
  const n = await herd(['start', path.join(dir, 'npm-app', 'ecosystem.config.js')], { PORT: String(npmPort) });
  assert.equal(n.code, 0, n.stderr);
  assert.match((await get(npmPort)).body, /^npm-app \d+/);
  const pyPort = await freePort();
  const p = await herd(['start', path.join(dir, 'python-app', 'ecosystem.config.js')], { PORT: String(pyPort) });
  assert.equal(p.code, 0, p.stderr);
  assert.match((await get(pyPort)).body, /^py-app \d+/);
  assert.equal((await herd(['stop', 'all'])).code, 0);
  await assert.rejects(get(npmPort));
  await assert.rejects(get(pyPort));
});
