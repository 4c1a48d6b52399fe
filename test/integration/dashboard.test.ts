import assert from 'node:assert/strict';
import { statSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { test } from 'node:test';
import type { ActionLine, AppPageView, DashboardLogLine, OverviewView } from '../../src/dashboard/apiTypes';
import { eventually, FIXTURES, freePort, get, herdHome, list } from '../helpers';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, urlPath: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: urlPath, headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('timed out')));
    req.end(body);
  });
}

async function dashboard(herd: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>, args: string[] = ['--port', '0']): Promise<{ url: URL; port: number; token: string }> {
  const r = await herd(['dashboard', ...args, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const url = new URL((JSON.parse(r.stdout) as { url: string }).url);
  return { url, port: Number(url.port), token: url.searchParams.get('token') ?? '' };
}

async function startApp(herd: (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>, home: string, port: number): Promise<void> {
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({ apps: [{ name: 'api', script: path.join(FIXTURES, 'hello.js'), instances: 2, env: { PORT: String(port), LOG_REQUESTS: '1' } }] }));
  const started = await herd(['start', config]);
  assert.equal(started.code, 0, started.stderr);
}

test('herd dashboard: loopback URL with a token kept 0600; without the token every page and API call is 401', async (t) => {
  const { home, herd } = herdHome(t);
  const { url, port, token } = await dashboard(herd);
  assert.equal(url.hostname, '127.0.0.1');
  assert.ok(token.length >= 24, `token "${token}"`);
  assert.equal(statSync(path.join(home, 'dashboard.token')).mode & 0o777, 0o600);

  for (const p of ['/', '/app.js', '/app.css', '/api/overview', '/api/apps/api', '/api/logs?app=api']) {
    assert.equal((await request(port, 'GET', p)).status, 401, p);
    assert.equal((await request(port, 'GET', p, { cookie: `herd_dashboard_${port}=wrong-token-wrong-token` })).status, 401, `${p} with a wrong cookie`);
  }
  assert.equal((await request(port, 'GET', '/?token=nope')).status, 401);
  assert.equal((await request(port, 'POST', '/api/apps/api/reload', { 'x-herd-dashboard': '1' })).status, 401);

  // The printed URL trades the token for a cookie and leaves the address bar clean.
  const first = await request(port, 'GET', `/?token=${encodeURIComponent(token)}`);
  assert.equal(first.status, 303);
  assert.equal(first.headers.location, '/');
  const setCookie = String(first.headers['set-cookie']);
  assert.match(setCookie, /HttpOnly/);
  assert.match(setCookie, /SameSite=Strict/);
  const cookie = setCookie.split(';')[0] as string;
  const page = await request(port, 'GET', '/', { cookie });
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="\/app\.js"/);
  assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
  const js = await request(port, 'GET', '/app.js', { cookie, 'accept-encoding': 'gzip' });
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-encoding'], 'gzip');
  assert.equal((await request(port, 'GET', '/api/overview', { authorization: `Bearer ${token}` })).status, 200);

  // The same token after the daemon restarts: the URL keeps working.
  assert.equal((await herd(['kill'])).code, 0);
  const again = await dashboard(herd);
  assert.equal(again.token, token);
});

test('dashboard API: overview and app page with real numbers, reload streamed with progress, cross-site actions refused', async (t) => {
  const { home, herd } = herdHome(t);
  const appPort = await freePort();
  await startApp(herd, home, appPort);
  const { port, token } = await dashboard(herd);
  const auth = { authorization: `Bearer ${token}` };
  for (let i = 0; i < 40; i++) assert.equal((await get(appPort, `/users/${i}`)).status, 200);

  const overview = await eventually(async () => {
    const view = JSON.parse((await request(port, 'GET', '/api/overview', auth)).body) as OverviewView;
    return view.apps[0] && view.apps[0].rps > 0 ? view : undefined;
  }, 15_000, 'requests in the overview');
  const app = overview.apps[0];
  assert.equal(app?.name, 'api');
  assert.equal(app?.status, 'online');
  assert.deepEqual(app?.workers, { online: 2, total: 2 });
  assert.ok((app?.memory ?? 0) > 0);

  // The last second closes within a second of the last request.
  const pageView = await eventually(async () => {
    const view = JSON.parse((await request(port, 'GET', '/api/apps/api?window=300', auth)).body) as AppPageView;
    return view.series.rps.reduce((a, b) => a + b, 0) === 40 ? view : undefined;
  }, 10_000, 'every request in the series');
  assert.equal(pageView.metrics.http.requests, 40);
  assert.equal(pageView.workers.length, 2);
  assert.equal(pageView.series.step, 1);
  const last = pageView.series.times[pageView.series.times.length - 1] as number;
  const later = JSON.parse((await request(port, 'GET', `/api/apps/api?window=300&since=${last}`, auth)).body) as AppPageView;
  assert.ok(later.series.times.every((time) => time > last), 'since= answers only newer points');
  assert.equal((await request(port, 'GET', '/api/apps/nope', auth)).status, 404);

  // Actions need the custom header and a same-origin Origin.
  assert.equal((await request(port, 'POST', '/api/apps/api/reload', auth)).status, 403);
  assert.equal((await request(port, 'POST', '/api/apps/api/reload', { ...auth, 'x-herd-dashboard': '1', origin: 'http://evil.example' })).status, 403);
  assert.equal((await request(port, 'POST', '/api/apps/api/scale', { ...auth, 'x-herd-dashboard': '1' }, '{}')).status, 400);
  assert.equal((await request(port, 'POST', '/api/apps/api/reload', { ...auth, 'x-herd-dashboard': '1' }, 'not json')).status, 400);
  const pidsBefore = (await list(herd))[0]?.workers.map((w) => w.pid);

  const reload = await request(port, 'POST', '/api/apps/api/reload', { ...auth, 'x-herd-dashboard': '1', origin: `http://127.0.0.1:${port}`, 'content-type': 'application/json' }, '{}');
  assert.equal(reload.status, 200);
  assert.equal(reload.headers['content-type'], 'application/x-ndjson');
  const lines = reload.body.trim().split('\n').map((l) => JSON.parse(l) as ActionLine);
  assert.ok(lines.filter((l) => l.kind === 'progress').length >= 4, reload.body);
  assert.deepEqual(lines[lines.length - 1], { kind: 'result', ok: true, message: 'reloaded api' });
  const pidsAfter = (await list(herd))[0]?.workers.map((w) => w.pid);
  assert.ok(pidsAfter?.every((p) => !pidsBefore?.includes(p)), `every worker replaced: ${pidsBefore} -> ${pidsAfter}`);

  const scale = await request(port, 'POST', '/api/apps/api/scale', { ...auth, 'x-herd-dashboard': '1' }, JSON.stringify({ count: 3 }));
  assert.match(scale.body, /"message":"api: 2 -> 3 workers"/);
  const bad = await request(port, 'POST', '/api/apps/api/scale', { ...auth, 'x-herd-dashboard': '1' }, JSON.stringify({ count: 'lots' }));
  const result = JSON.parse(bad.body.trim().split('\n').pop() as string) as ActionLine;
  assert.equal(result.kind === 'result' && !result.ok && result.error.code, 'HERD_ERR_USAGE');

  // Stop, start and restart answer their result; the app follows.
  const action = async (name: string) => {
    const r = await request(port, 'POST', `/api/apps/api/${name}`, { ...auth, 'x-herd-dashboard': '1' });
    return JSON.parse(r.body.trim().split('\n').pop() as string) as ActionLine;
  };
  assert.deepEqual(await action('stop'), { kind: 'result', ok: true, message: 'stopped api' });
  assert.equal((await list(herd))[0]?.status, 'stopped');
  assert.deepEqual(await action('start'), { kind: 'result', ok: true, message: 'started api' });
  assert.equal((await list(herd))[0]?.status, 'online');
  assert.deepEqual(await action('start'), { kind: 'result', ok: true, message: 'api is already running' });
  assert.deepEqual(await action('restart'), { kind: 'result', ok: true, message: 'restarted api' });
  assert.equal((await get(appPort, '/')).status, 200);
  assert.equal((await request(port, 'POST', '/api/apps/nope/restart', { ...auth, 'x-herd-dashboard': '1' })).status, 404);
});

test('dashboard log tail: the last lines on disk, then every new line, over Server-Sent Events', async (t) => {
  const { home, herd } = herdHome(t);
  const appPort = await freePort();
  await startApp(herd, home, appPort);
  for (let i = 0; i < 5; i++) await get(appPort, `/before-${i}`);
  await eventually(async () => ((await herd(['logs', 'api', '--lines', '50'])).stdout.includes('request /before-4') ? true : undefined), 10_000, 'lines on disk');
  const { port, token } = await dashboard(herd);

  const events: { event: string; data: unknown }[] = [];
  const socket = net.connect(port, '127.0.0.1');
  t.after(() => socket.destroy());
  socket.write(`GET /api/logs?app=api HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nAccept: text/event-stream\r\n\r\n`);
  let text = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
    for (let end = text.indexOf('\n\n'); end !== -1; end = text.indexOf('\n\n')) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      const event = /^event: (.+)$/m.exec(block)?.[1];
      const data = /^data: (.+)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data) });
    }
  });
  const history = await eventually(() => events.find((e) => e.event === 'history')?.data as DashboardLogLine[] | undefined, 10_000, 'history');
  for (let i = 0; i < 5; i++) assert.ok(history.some((l) => l.msg === `request /before-${i}`), `history has /before-${i}`);
  for (let i = 0; i < 5; i++) await get(appPort, `/after-${i}`);
  await eventually(() => {
    const live = events.filter((e) => e.event === 'line').map((e) => (e.data as DashboardLogLine).msg);
    return [0, 1, 2, 3, 4].every((i) => live.includes(`request /after-${i}`)) ? true : undefined;
  }, 10_000, 'live lines');
});

test('herd dashboard: a bad port is a usage error, a port in use fails with its code and changes nothing', async (t) => {
  const { herd } = herdHome(t);
  const bad = await herd(['dashboard', '--port', '99999']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--port takes a port number/);
  const { port } = await dashboard(herd);
  const blocker = net.createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
  t.after(() => blocker.close());
  const taken = (blocker.address() as net.AddressInfo).port;
  const r = await herd(['dashboard', '--port', String(taken)]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /HERD_ERR_DASHBOARD_LISTEN/);
  // Still where it was.
  const after = await dashboard(herd, []);
  assert.equal(after.port, port);
});
