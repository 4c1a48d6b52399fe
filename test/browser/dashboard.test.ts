import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { chromium, type Page } from 'playwright-core';
import { eventually, FIXTURES, freePort, herdHome, kill, list, load } from '../helpers';

/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core.
 * HERD_DASHBOARD_SESSION_S makes the closing session of traffic, reloads and
 * crashes longer (CI: 30 s); HERD_SCREENSHOTS=DIR saves the main views there.
 */
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SESSION_S = Number(process.env.HERD_DASHBOARD_SESSION_S || 30);
const SHOTS = process.env.HERD_SCREENSHOTS;
const missing = !existsSync(CHROMIUM) && !process.env.CI;

async function number(page: Page, selector: string): Promise<number> {
  const text = (await page.textContent(selector)) ?? '';
  return Number(text.replace(/[^0-9.]/g, '')) || 0;
}

async function workerPids(page: Page): Promise<number[]> {
  return page.$$eval('[data-testid=workers] tbody tr[data-key]', (rows) => rows.map((r) => Number(r.children[1]?.textContent)).filter((n) => n > 0));
}

/** Clicks an action, confirms it, and waits for its result panel. */
async function act(page: Page, action: string, state: 'done' | 'failed'): Promise<string> {
  await page.click(`[data-action=${action}]`);
  await page.click('[data-testid=confirm]');
  await page.waitForSelector(`[data-testid=action-panel][data-state=${state}]`, { timeout: 60_000 });
  return (await page.textContent('[data-testid=action-panel]')) ?? '';
}

test('dashboard in Chromium: live charts with real numbers, reload with progress, a failed reload\'s reason, a crashing worker, no console errors', { skip: missing && `no Chromium at ${CHROMIUM} (apt-get install chromium); CI installs it` }, async (t) => {
  const { home, herd } = herdHome(t);
  const appPort = await freePort();
  const dir = path.join(home, 'app');
  mkdirSync(dir);
  copyFileSync(path.join(FIXTURES, 'versioned.js'), path.join(dir, 'server.js'));
  writeFileSync(path.join(dir, 'version.txt'), 'v1');
  const config = path.join(dir, 'herd.config.json');
  writeFileSync(config, JSON.stringify({ apps: [{ name: 'api', script: 'server.js', instances: 2, env: { PORT: String(appPort) } }] }));
  assert.equal((await herd(['start', config])).code, 0);
  const opened = await herd(['dashboard', '--port', '0', '--json']);
  assert.equal(opened.code, 0, opened.stderr);
  const url = new URL((JSON.parse(opened.stdout) as { url: string }).url);

  const traffic = load(appPort, 4);
  let stopped = false;
  const stopTraffic = async () => {
    if (stopped) return null;
    stopped = true;
    return traffic.stop();
  };
  t.after(stopTraffic);

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  t.after(() => browser.close());

  // Without the token: 401, in a context of its own.
  const stranger = await browser.newContext();
  const denied = await (await stranger.newPage()).goto(`http://127.0.0.1:${url.port}/`);
  assert.equal(denied?.status(), 401);
  await stranger.close();

  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));

  const start = Date.now();
  await page.goto(url.toString());
  assert.equal(new URL(page.url()).search, '', 'the token leaves the address bar');
  await page.waitForSelector('[data-testid=apps] tr[data-key=api]');
  t.diagnostic(`overview shown ${Date.now() - start} ms after navigation`);
  await eventually(async () => ((await number(page, '[data-testid=apps] tr[data-key=api] td:nth-child(4)')) > 0 ? true : undefined), 15_000, 'req/s in the overview');
  assert.equal(await page.textContent('[data-testid=apps] tr[data-key=api] td:nth-child(3)'), '2/2');
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dashboard-overview.png') });

  await page.click('[data-testid=apps] tr[data-key=api]');
  await page.waitForSelector('[data-testid=workers] tr[data-key]');
  // Live charts fed with real traffic: points arrive and the last request rate is above 0.
  for (const chart of ['rps', 'latency', 'status', 'cpu', 'memory', 'workers', 'loop']) {
    await eventually(async () => ((await page.getAttribute(`[data-chart=${chart}]`, 'data-points')) ?? '0') !== '0' ? true : undefined, 15_000, `${chart} chart points`);
  }
  await eventually(async () => Number(await page.getAttribute('[data-chart=rps]', 'data-last')) > 0 ? true : undefined, 15_000, 'requests in the rps chart');
  assert.equal((await workerPids(page)).length, 2);
  // The workers chart's step line: the app's 2 workers.
  await eventually(async () => (await page.getAttribute('[data-chart=workers]', 'data-last')) === '2' ? true : undefined, 15_000, '2 in the workers chart');
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dashboard-app.png'), fullPage: true });

  // A reload clicked on the page replaces every worker and shows its progress and result.
  const before = await workerPids(page);
  const done = await act(page, 'reload', 'done');
  assert.match(done, /reloaded api/);
  assert.ok((await page.$$('[data-testid=action-progress] li')).length >= 4, 'progress lines shown');
  const replaced = await eventually(async () => {
    const pids = await workerPids(page);
    return pids.length === 2 && pids.every((p) => !before.includes(p)) ? pids : undefined;
  }, 15_000, 'new pids in the worker table');
  assert.deepEqual((await list(herd))[0]?.workers.map((w) => w.pid).sort(), [...replaced].sort());

  // A reload into a version that throws at boot: the reason and the new worker's stderr are shown, the old workers stay.
  writeFileSync(path.join(dir, 'version.txt'), 'throw');
  const failed = await act(page, 'reload', 'failed');
  assert.match(failed, /reload of "api" aborted/);
  assert.match(failed, /broken release: missing configuration/);
  assert.deepEqual((await workerPids(page)).sort(), [...replaced].sort());
  await page.waitForSelector('[data-testid=log-lines] .log-line.err >> text=refusing to start');
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, 'dashboard-failed-reload.png') });
  writeFileSync(path.join(dir, 'version.txt'), 'v2');

  // A worker killed with -9 comes back; the page follows.
  const victim = replaced[0] as number;
  kill(victim);
  await eventually(async () => {
    const pids = await workerPids(page);
    return pids.length === 2 && !pids.includes(victim) ? true : undefined;
  }, 15_000, 'the killed worker replaced in the table');

  // Scale from the page: up to 3 workers, back to 2.
  for (const count of [3, 2]) {
    await page.fill('[data-testid=scale-input]', String(count));
    assert.match(await act(page, 'scale', 'done'), new RegExp(`api: \\d -> ${count} workers`));
    await eventually(async () => ((await workerPids(page)).length === count ? true : undefined), 15_000, `${count} workers in the table`);
  }

  // The rest of the session: windows, pages, reloads and crashes while traffic flows.
  const end = Date.now() + SESSION_S * 1000;
  let round = 0;
  while (Date.now() < end) {
    round++;
    for (const w of ['900', '3600', '300']) {
      await page.click(`[data-window="${w}"]`);
      await page.waitForSelector(`[data-window="${w}"].active`);
    }
    if (round % 2 === 1) assert.match(await act(page, 'reload', 'done'), /reloaded api/);
    else {
      const pids = await workerPids(page);
      kill(pids[0] as number);
      await eventually(async () => ((await workerPids(page)).includes(pids[0] as number) ? undefined : true), 15_000, 'crashed worker replaced');
    }
    await page.click('text=← all apps');
    await page.waitForSelector('[data-testid=apps] tr[data-key=api]');
    await page.click('[data-testid=apps] tr[data-key=api]');
    await page.waitForSelector('[data-testid=workers] tr[data-key]');
    await eventually(async () => ((await page.textContent('[data-testid=app-status]')) === 'online' ? true : undefined), 15_000, 'online again');
  }
  const stats = await stopTraffic();
  t.diagnostic(`session: ${SESSION_S}s, ${round} rounds; traffic ${stats?.ok} ok, ${stats?.failed} failed (kill -9 loses in-flight requests), ${stats?.non2xx} non-2xx`);
  assert.deepEqual(problems, [], 'no errors or warnings in the browser console');

  // An app deleted while its page is open: the page goes back to the overview.
  assert.equal((await herd(['delete', 'api'])).code, 0);
  await page.waitForSelector('[data-testid=apps] tr.empty >> text=No apps yet', { timeout: 15_000 });
  // The browser logs the one 404 that told the page; nothing else.
  assert.deepEqual(problems.filter((p) => !/status of 404/.test(p)), []);
});
