import assert from 'node:assert/strict';
import { copyFileSync, existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test, type TestContext } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { eventually, FIXTURES, freePort, herdHome, list, load, type CliResult } from '../helpers';
import { redisProblem, startRedis } from '../fleet/redisServer';

/**
 * The dashboard's fleet page in a real browser, with the real parts: two herd
 * daemons on this machine (their own HERD_HOMEs, host names and app ports)
 * in a fleet at a test Redis on loopback. HERD_SCREENSHOTS=DIR saves the page.
 */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SHOTS = process.env.HERD_SCREENSHOTS;
const SECRET = 'fleet-page-secret-0123456789';
const skip = (!existsSync(CHROMIUM) && !process.env.CI && `no Chromium at ${CHROMIUM} (apt-get install chromium); CI installs it`) || redisProblem();

type Herd = (args: string[]) => Promise<CliResult>;

/** A herd host of the fleet (redis null: of none) with api, 2 workers of its own copy of hello.js. */
async function herdHost(t: TestContext, redis: string | null, name: string): Promise<{ herd: Herd; port: number; script: string }> {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const script = path.join(home, 'server.js');
  copyFileSync(path.join(FIXTURES, 'hello.js'), script);
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({
    ...(redis === null ? {} : { fleet: { redis, host: name, address: '127.0.0.1', secret: SECRET } }),
    apps: [{ name: 'api', script, instances: 2, env: { PORT: String(port) } }],
  }));
  const started = await herd(['start', config]);
  assert.equal(started.code, 0, `${name}: ${started.stderr}`);
  return { herd, port, script };
}

async function openDashboard(t: TestContext, herd: Herd): Promise<{ page: Page; problems: string[] }> {
  const opened = await herd(['dashboard', '--port', '0', '--json']);
  assert.equal(opened.code, 0, opened.stderr);
  const url = new URL((JSON.parse(opened.stdout) as { url: string }).url);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  t.after(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1500, height: 1000 } })).newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  await page.goto(url.toString());
  await page.click('[data-testid=nav-fleet]');
  return { page, problems };
}

async function pids(herd: Herd): Promise<number[]> {
  const api = (await list(herd)).find((a) => a.name === 'api');
  return (api?.workers ?? []).filter((w) => w.status === 'online').map((w) => w.pid as number).sort();
}

const cell = (page: Page, table: string, key: string, column: number) => page.textContent(`[data-testid=${table}] tr[data-key="${key}"] td:nth-child(${column})`);

/** Clicks an action button in a row, confirms, and waits for the panel to say `result`. */
async function act(page: Page, row: string, action: string, result: RegExp): Promise<string> {
  await page.click(`${row} [data-action=${action}]`);
  await page.click('[data-testid=confirm]');
  const panel = await page.waitForSelector('[data-testid=action-panel]:is([data-state=done], [data-state=failed])', { timeout: 90_000 });
  const text = (await panel.textContent()) ?? '';
  assert.match(text, result);
  return text;
}

test('fleet page in Chromium: two hosts and their apps live, a rolling reload from the page with its report (new pids on both hosts, 0 failed requests), scale on one host, a reload that fails on one host highlighted, Redis gone shown, no console errors', { skip }, async (t) => {
  const redis = await startRedis(t, { bind: ['127.0.0.1'] });
  const a = await herdHost(t, redis.url, 'host-a');
  const b = await herdHost(t, redis.url, 'host-b');
  const traffic = [load(a.port, 1), load(b.port, 1)];
  let stopped = false;
  const stopTraffic = () => (stopped ? null : ((stopped = true), Promise.all(traffic.map((l) => l.stop()))));
  t.after(stopTraffic);
  const { page, problems } = await openDashboard(t, a.herd);
  // Both hosts up, each with api 2/2, live from the registry.
  for (const host of ['host-a', 'host-b']) {
    await page.waitForSelector(`[data-testid=fleet-hosts] tr[data-key=${host}] >> text=up`, { timeout: 20_000 });
    await eventually(async () => ((await cell(page, 'fleet-host-apps', `${host}/api`, 4)) === '2/2' ? true : undefined), 20_000, `${host}/api 2/2`);
  }
  assert.equal(await cell(page, 'fleet-hosts', 'host-a', 1), 'host-a (this)');
  assert.equal(await cell(page, 'fleet-apps', 'api', 3), '4/4');
  await eventually(async () => (Number(await cell(page, 'fleet-apps', 'api', 5)) > 0 ? true : undefined), 20_000, 'fleet req/s above 0');
  assert.match((await cell(page, 'fleet-host-apps', 'host-b/api', 5)) ?? '', /^sha256:[0-9a-f]{12}$/, 'the revision host-b runs');

  // The rolling reload from the page: host by host, then the report table.
  const before = { a: await pids(a.herd), b: await pids(b.herd) };
  const text = await act(page, '[data-testid=fleet-apps] tr[data-key=api]', 'reload', /reloaded api on 2 host\(s\) of the fleet/);
  assert.match(text, /host-a: reloading[\s\S]*host-b: reloading/, 'host by host, in name order');
  const states = await page.$$eval('[data-testid=fleet-report] tbody tr[data-key]', (rows) => rows.map((r) => [r.children[0]?.textContent, r.children[1]?.textContent]));
  assert.deepEqual(states, [['host-a', 'reloaded'], ['host-b', 'reloaded']]);
  const after = { a: await pids(a.herd), b: await pids(b.herd) };
  for (const k of ['a', 'b'] as const) {
    assert.equal(after[k].length, 2);
    assert.ok(after[k].every((p) => !before[k].includes(p)), `every worker of host-${k} replaced: ${before[k]} -> ${after[k]}`);
  }
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dashboard-fleet.png'), fullPage: true });
  const stats = await stopTraffic();
  const failed = (stats ?? []).reduce((n, s) => n + s.failed + s.non2xx, 0);
  assert.equal(failed, 0, `requests failed during the fleet reload: ${(stats ?? []).flatMap((s) => s.errors).join('; ')}`);
  t.diagnostic(`${(stats ?? []).reduce((n, s) => n + s.ok, 0)} requests to the two hosts, 0 failed`);

  // One host only: host-b's api to 3 workers, seen live in its row; host-a untouched.
  const row = '[data-testid=fleet-host-apps] tr[data-key="host-b/api"]';
  await page.fill(`${row} [data-testid=scale-input]`, '3');
  await act(page, row, 'scale', /scale api to 3: done on 1 host\(s\) of host-b/);
  await eventually(async () => ((await cell(page, 'fleet-host-apps', 'host-b/api', 4)) === '3/3' ? true : undefined), 15_000, 'host-b/api 3/3 on the page');
  assert.equal((await pids(b.herd)).length, 3);
  assert.deepEqual(await pids(a.herd), after.a);
  assert.equal(await cell(page, 'fleet-apps', 'api', 3), '5/5');

  // host-b's code throws at boot: host-a reloads, host-b fails and keeps its workers, its report row is highlighted.
  const kept = await pids(b.herd);
  writeFileSync(b.script, "throw new Error('v2 cannot read its config');\n");
  await act(page, '[data-testid=fleet-apps] tr[data-key=api]', 'reload', /the rolling reload of api stopped: host-b: reload of "api" aborted/);
  const failedRows = await page.$$eval('[data-testid=fleet-report] tr.failed-row', (rows) => rows.map((r) => r.getAttribute('data-key')));
  assert.deepEqual(failedRows, ['host-b']);
  assert.deepEqual(await pids(b.herd), kept, 'host-b keeps its old workers');

  // Redis gone: said plainly, the hosts go on serving.
  await redis.stop();
  await page.waitForSelector('[data-testid=fleet-redis]:not([hidden]) >> text=cannot be reached', { timeout: 15_000 });
  assert.equal((await pids(a.herd)).length, 2);
  assert.deepEqual(problems, [], 'no errors or warnings in the browser console');
});

test('fleet page in Chromium: a host in no fleet says so, with the config hint', { skip }, async (t) => {
  const solo = await herdHost(t, null, 'solo');
  const { page, problems } = await openDashboard(t, solo.herd);
  await page.waitForSelector('[data-testid=fleet-off] >> text=This host has joined no fleet');
  assert.match((await page.textContent('[data-testid=fleet-off]')) ?? '', /fleet: \{ redis, host, secret \}/);
  assert.equal(await page.isVisible('[data-testid=fleet-apps]'), false);
  assert.deepEqual(problems, []);
});
