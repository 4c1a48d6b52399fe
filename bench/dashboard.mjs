#!/usr/bin/env node
// How light the dashboard is, measured in Debian's Chromium on this machine:
//  1. bundle: bytes of the page's files, raw and gzipped (what the daemon sends);
//  2. load: from navigation to the first figures on screen (overview table
//     filled; app page with its charts fed), cold, fresh browser context each try;
//  3. smoothness with 16 workers under load: the page's render time per
//     update (its 'herd-render' measures), long tasks (> 50 ms) and frames
//     drawn per second while it updates, over --seconds;
//  4. cost to the daemon: its CPU with the page open and polling vs closed.
// Usage: npm run build && node bench/dashboard.mjs [--tries 5] [--seconds 30]
// Needs /usr/bin/chromium (Debian: apt-get install -y chromium).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { destroyAll, fmt, freePort, Herd, keepAliveLoad, log, median, ROOT, sleep } from './lib.mjs';

const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? fallback : Number(process.argv[i + 1]);
};
const TRIES = arg('tries', 5);
const SECONDS = arg('seconds', 30);
const WORKERS = 16;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const PUBLIC = path.join(ROOT, 'dist', 'dashboard', 'public');
const TICKS = 100;

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

async function daemonCpu(pid, seconds) {
  const t0 = cpuTicks(pid);
  await sleep(seconds * 1000);
  return ((cpuTicks(pid) - t0) / TICKS / seconds) * 100;
}

function bundle() {
  return ['index.html', 'app.js', 'app.css'].map((file) => {
    const body = readFileSync(path.join(PUBLIC, file));
    return { file, raw: body.length, gzip: gzipSync(body, { level: 9 }).length };
  });
}

/** By the page's own clock: navigation start to the end of its first render with data. */
function firstRender(page) {
  return page.evaluate(() => {
    const render = performance.getEntriesByName('herd-render')[0];
    return render ? render.startTime + render.duration : NaN;
  });
}

async function main() {
  const herd = new Herd('dashboard');
  const port = await freePort();
  const hello = path.join(ROOT, 'test', 'fixtures', 'hello.js');
  log(`starting ${WORKERS} workers`);
  await herd.start(hello, 'api', { instances: WORKERS, env: { PORT: String(port) } });
  const url = JSON.parse((await herd.cli(['dashboard', '--port', '0', '--json'])).stdout).url;
  const daemon = herd.daemonPid();
  // Page loads are timed under steady traffic (200 req/s); smoothness under full load.
  let traffic = keepAliveLoad(port, { connections: 4, rate: 200 });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  try {
    await sleep(3000);
    const loads = { overview: [], app: [], overviewInPage: [], appInPage: [] };
    for (let i = 0; i < TRIES; i++) {
      const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
      const page = await context.newPage();
      let t0 = performance.now();
      await page.goto(url);
      // Req/s shows as 12.3k above 10,000: any non-zero digit means figures are on screen.
      await page.waitForFunction(() => /[1-9]/.test(document.querySelector('[data-testid=apps] tr[data-key=api] td:nth-child(4)')?.textContent ?? ''));
      loads.overview.push(performance.now() - t0);
      loads.overviewInPage.push(await firstRender(page));
      const appUrl = `${new URL(url).origin}/#/app/api`;
      const fresh = await context.newPage();
      t0 = performance.now();
      await fresh.goto(appUrl);
      await fresh.waitForFunction((n) => document.querySelectorAll('[data-testid=workers] tbody tr[data-key]').length >= n
        && Number(document.querySelector('[data-chart=rps]')?.getAttribute('data-points')) > 0, WORKERS);
      loads.app.push(performance.now() - t0);
      loads.appInPage.push(await firstRender(fresh));
      await context.close();
    }
    log(`load: overview ${loads.overview.map((x) => x.toFixed(0)).join(', ')} ms; app ${loads.app.map((x) => x.toFixed(0)).join(', ')} ms`);

    await traffic.stop();
    traffic = keepAliveLoad(port, { connections: 16 });
    const closedCpu = await daemonCpu(daemon, 10);
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    await page.goto(url);
    await page.goto(`${new URL(url).origin}/#/app/api`);
    await page.waitForFunction(() => Number(document.querySelector('[data-chart=rps]')?.getAttribute('data-points')) > 0);
    await page.evaluate(() => {
      performance.clearMeasures('herd-render');
      window.__longTasks = [];
      new PerformanceObserver((list) => window.__longTasks.push(...list.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
      window.__frames = 0;
      const frame = () => {
        window.__frames++;
        requestAnimationFrame(frame);
      };
      requestAnimationFrame(frame);
    });
    const openCpu = await daemonCpu(daemon, SECONDS);
    const smooth = await page.evaluate(() => ({
      renders: performance.getEntriesByName('herd-render').map((e) => e.duration),
      longTasks: window.__longTasks,
      frames: window.__frames,
    }));
    await context.close();
    const stats = await traffic.stop();
    const renders = [...smooth.renders].sort((a, b) => a - b);
    const q = (p) => renders[Math.min(renders.length - 1, Math.floor(p * renders.length))] ?? NaN;
    const report = {
      bundle: bundle(),
      load: loads,
      smooth: {
        workers: WORKERS, seconds: SECONDS, updates: renders.length,
        renderMs: { p50: q(0.5), p99: q(0.99), max: renders[renders.length - 1] ?? NaN },
        longTasks: smooth.longTasks.length, longestTaskMs: Math.max(0, ...smooth.longTasks), fps: smooth.frames / SECONDS,
      },
      daemonCpu: { pageClosed: closedCpu, pageOpen: openCpu },
      traffic: { requests: stats.requests, errors: stats.errors, non2xx: stats.non2xx },
    };
    console.log(JSON.stringify(report, null, 2));
    console.log([
      '',
      `bundle: ${report.bundle.map((b) => `${b.file} ${fmt(b.raw / 1024)} KB (${fmt(b.gzip / 1024)} KB gzipped)`).join(', ')}`,
      `load to first figures, median / worst of ${TRIES} (target < 1000 ms):`,
      `  overview: ${fmt(median(loads.overviewInPage), 0)} / ${fmt(Math.max(...loads.overviewInPage), 0)} ms by the page's clock (${fmt(median(loads.overview), 0)} / ${fmt(Math.max(...loads.overview), 0)} ms seen from playwright)`,
      `  app page with ${WORKERS} workers and its charts: ${fmt(median(loads.appInPage), 0)} / ${fmt(Math.max(...loads.appInPage), 0)} ms by the page's clock (${fmt(median(loads.app), 0)} / ${fmt(Math.max(...loads.app), 0)} ms seen from playwright)`,
      `${WORKERS} workers, ${SECONDS} s of updates: ${renders.length} renders, p50 ${fmt(q(0.5), 2)} ms, p99 ${fmt(q(0.99), 2)} ms, max ${fmt(report.smooth.renderMs.max, 2)} ms; ${report.smooth.longTasks} long tasks (longest ${fmt(report.smooth.longestTaskMs, 0)} ms); ${fmt(report.smooth.fps, 0)} frames/s`,
      `daemon CPU: ${fmt(closedCpu, 2)}% of a core with no page open, ${fmt(openCpu, 2)}% with the app page open`,
      `traffic meanwhile: ${stats.requests} requests, ${stats.errors} errors, ${stats.non2xx} non-2xx`,
    ].join('\n'));
  } finally {
    await browser.close();
    await destroyAll();
  }
}

process.on('SIGINT', () => void destroyAll().finally(() => process.exit(130)));
main().catch(async (err) => {
  console.error(err);
  await destroyAll();
  process.exit(1);
});
