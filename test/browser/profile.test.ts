import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { FIXTURES, freePort, herdHome, load } from '../helpers';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const missing = !existsSync(CHROMIUM) && !process.env.CI;

test('dashboard: Profile 10 s on a worker draws its flame graph, the busy handler widest', { skip: missing && `no Chromium at ${CHROMIUM}` }, async (t) => {
  const { home, herd } = herdHome(t);
  const port = await freePort();
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({ apps: [{ name: 'cpu', script: path.join(FIXTURES, 'cpu.js'), instances: 2, env: { PORT: String(port), WORK_MS: '20' } }] }));
  assert.equal((await herd(['start', config])).code, 0);
  const opened = await herd(['dashboard', '--port', '0', '--json']);
  assert.equal(opened.code, 0, opened.stderr);
  const url = (JSON.parse(opened.stdout) as { url: string }).url;
  // A new connection per request: keep-alive connections could all have landed on the other worker.
  const traffic = load(port, 8, '/work', false);
  t.after(() => traffic.stop());
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  t.after(() => browser.close());
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 1000 } })).newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(err.message));
  page.on('console', (m) => (m.type() === 'error' ? problems.push(m.text()) : undefined));
  // The button asks for 10 s; the test asks the same route for 2 s (the body's durationMs), to stay short.
  await page.route('**/workers/*/profile', (route) => route.continue({ postData: JSON.stringify({ durationMs: 2000 }) }));
  await page.goto(url);
  await page.click('[data-testid=apps] tr[data-key=cpu]');
  await page.click('[data-testid=profile-0]');
  await page.waitForSelector('[data-testid=profile-status][data-state=done]', { timeout: 40_000 });
  const frames = await page.$$eval('[data-testid=flame-frames] .flame-frame:not(.dim)', (els) => els.map((e) => ({
    name: e.getAttribute('data-name') ?? '', share: Number(e.getAttribute('data-share')), depth: Number(e.getAttribute('data-depth')),
  })));
  assert.ok(frames.length > 3, JSON.stringify(frames));
  // The widest frame that is app code (below the root and V8's pseudo-frames, beside Node's own) is the /work handler, in cpu.js.
  const titles = await page.$$eval('[data-testid=flame-frames] .flame-frame', (els) => els.map((e) => e.getAttribute('title') ?? ''));
  const app = titles.filter((tt) => tt.includes('cpu.js')).sort((a, b) => Number(/\((\d+(?:\.\d+)?)%\)/.exec(b)?.[1]) - Number(/\((\d+(?:\.\d+)?)%\)/.exec(a)?.[1]));
  assert.ok(app.length > 0 && /cpu\.js:1[23]/.test(app[0] as string), app.slice(0, 3).join('\n'));
  assert.deepEqual(problems, []);
});
