import * as http from 'node:http';
import * as os from 'node:os';
import type { DashboardSettings } from '../config/types';
import { HerdError, toErrorData } from '../errors';
import { closeServer, rebind, type Endpoint } from '../daemon/http/listen';
import { readTail } from '../logs/history';
import { STREAMS, type LogLine } from '../logs/format';
import { ACTIONS, FLEET_ACTIONS, type ActionLine, type ActionName, type DashboardLogLine, type FleetActionLine, type FleetActionName } from './apiTypes';
import { Assets } from './assets';
import { DashboardAuth, loadToken } from './auth';
import { fleetActionRequest, fleetPageView, NO_FLEET_HINT, runFleetAction, type DashboardFleet } from './fleetActions';
import { appPageView, overviewView, windowOf, type DashboardSource } from './views';
import { profileAction, profileDuration, stallProfileRoute, type DashboardProfiles } from './profileRoutes';

/** What the dashboard's actions call: the supervisor's own operations. */
export interface DashboardActions extends DashboardProfiles {
  reload(target: string, specs: null, progress: (message: string) => void): Promise<string[]>;
  restart(target: string): Promise<string[]>;
  stop(target: string): Promise<string[]>;
  startApp(name: string): Promise<{ started: string[]; skipped: string[] }>;
  scale(name: string, count: string, progress: (message: string) => void): Promise<{ from: number; to: number }>;
}

export interface DashboardDeps {
  source: DashboardSource;
  actions: DashboardActions;
  /** The fleet operations, for the fleet page; its status() says whether this host joined a fleet. Null: no fleet page source at all. */
  fleet: DashboardFleet | null;
  /** Every worker line as it arrives, for the live log tail. */
  subscribe(listener: (line: LogLine) => void): () => void;
  /** Where the log files are, for the tail's first lines; null in `herd run`. */
  logDir: string | null;
  /** `$HERD_HOME/dashboard.token`. */
  tokenFile: string;
  /** A line for the daemon log. */
  note(line: string): void;
}

/** Lines of history the log tail opens with. */
const TAIL_LINES = 200;
/** A log-tail reader this far behind is skipped past, so it cannot grow the daemon's memory. */
const MAX_UNSENT = 1024 * 1024;
const MAX_BODY = 4096;
const HEARTBEAT_MS = 15_000;

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
};

type Route = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => void | Promise<void>;

/**
 * The web dashboard, served by the supervisor itself (daemon or `herd run`):
 * the page (built by scripts/build-ui.mjs), a JSON API over what the daemon
 * already aggregates, a Server-Sent Events log tail, and actions. Loopback
 * unless told otherwise; every request needs the token (see auth.ts).
 */
export class DashboardServer {
  private server: http.Server | null = null;
  private current: DashboardSettings | null = null;
  private auth: DashboardAuth | null = null;
  private readonly assets = new Assets();
  private readonly streams = new Set<http.ServerResponse>();
  /** The supervisor is made with its dashboard server: the overview's uptime counts from here. */
  private readonly startedAt = Date.now();

  private readonly endpoint: Endpoint;

  constructor(private readonly deps: DashboardDeps) {
    this.endpoint = {
      name: 'the dashboard',
      failure: (address, reason) => new HerdError('HERD_ERR_DASHBOARD_LISTEN', { address, reason }),
      note: deps.note,
    };
  }

  /** The URL to open, token included; null when not serving. */
  get url(): string | null {
    const a = this.server?.address();
    if (!a || typeof a === 'string' || !this.auth) return null;
    const wildcard = a.address === '0.0.0.0' || a.address === '::';
    const host = wildcard ? os.hostname() : a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/?token=${encodeURIComponent(this.auth.token)}`;
  }

  /**
   * Serve with these settings. The same address only takes the new token; a
   * new one is bound before the old one closes, so a bad address leaves the
   * dashboard where it was.
   */
  async configure(settings: DashboardSettings): Promise<string> {
    const token = await loadToken(this.deps.tokenFile, settings.token);
    const running = this.server !== null && this.current !== null;
    const samePlace = running && this.current?.host === settings.host && (settings.port === 0 || this.current?.port === settings.port);
    if (!samePlace) {
      const server = http.createServer((req, res) => void this.handle(req, res));
      server.keepAliveTimeout = 5000;
      await rebind(server, settings, this.endpoint, () => this.close());
      this.server = server;
    }
    const port = (this.server?.address() as { port: number }).port;
    this.current = { ...settings, port };
    this.auth = new DashboardAuth(token, port);
    return this.url as string;
  }

  /** The listening server and its settings (the bound port), for `herd update` to hand to the next daemon; null when off. */
  handover(): { server: http.Server; settings: DashboardSettings } | null {
    return this.server && this.current ? { server: this.server, settings: this.current } : null;
  }

  /** Where it serves now (for `herd dashboard` without --port), or null. */
  get settings(): DashboardSettings | null {
    return this.server ? this.current : null;
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const res of this.streams) res.end();
    this.streams.clear();
    return closeServer(server);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const auth = this.auth;
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://dashboard');
    } catch {
      return json(res, 400, { error: 'bad URL' });
    }
    if (!auth) return json(res, 503, { error: 'starting' });
    // First visit with the printed URL: keep the token in a cookie and drop it from the address bar.
    const given = url.searchParams.get('token');
    if (req.method === 'GET' && url.pathname === '/' && given !== null) {
      if (!auth.matches(given)) return unauthorised(res, url.pathname);
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/', 'set-cookie': auth.cookie(), 'cache-control': 'no-store' }).end();
      return;
    }
    if (!auth.authorised(req)) return unauthorised(res, url.pathname);
    try {
      const route = this.route(req.method ?? 'GET', url.pathname);
      if (!route) return json(res, 404, { error: `no ${req.method} ${url.pathname}` });
      await route(req, res, url);
    } catch (err) {
      const data = toErrorData(err);
      if (!res.headersSent) json(res, data.code === 'HERD_ERR_APP_NOT_FOUND' ? 404 : 500, { error: data.message, code: data.code });
      else res.end();
    }
  }

  private route(method: string, pathname: string): Route | undefined {
    if (method === 'GET' || method === 'HEAD') {
      if (pathname === '/api/overview') return async (_req, res) => json(res, 200, await overviewView(this.deps.source, this.startedAt));
      if (pathname === '/api/fleet') return async (_req, res) => json(res, 200, await fleetPageView(this.deps.fleet));
      if (pathname === '/api/logs') return (req, res, url) => this.logStream(req, res, url);
      const stored = /^\/api\/apps\/([^/]+)\/profiles(?:\/([^/]+))?$/.exec(pathname);
      if (stored) {
        return (_req, res) => {
          const name = decodeURIComponent(stored[1] as string);
          this.assertApp(name);
          return stallProfileRoute(this.deps.actions, res, json, SECURITY_HEADERS, name, stored[2] === undefined ? null : decodeURIComponent(stored[2]));
        };
      }
      const page = /^\/api\/apps\/([^/]+)$/.exec(pathname);
      if (page) {
        return async (_req, res, url) => {
          const since = url.searchParams.get('since');
          const view = await appPageView(this.deps.source, decodeURIComponent(page[1] as string), windowOf(url.searchParams.get('window')), since === null ? null : Number(since) || null);
          json(res, 200, view);
        };
      }
      if (!pathname.startsWith('/api/')) return (req, res) => this.asset(req, res, pathname);
      return undefined;
    }
    const action = /^\/api\/apps\/([^/]+)\/([a-z]+)$/.exec(pathname);
    if (method === 'POST' && action && (ACTIONS as readonly string[]).includes(action[2] as string)) {
      return (req, res) => this.act(req, res, decodeURIComponent(action[1] as string), action[2] as ActionName);
    }
    const profile = /^\/api\/apps\/([^/]+)\/workers\/(\d+)\/profile$/.exec(pathname);
    if (method === 'POST' && profile) {
      return async (req, res) => {
        const name = decodeURIComponent(profile[1] as string);
        const body = await this.actionBody(req, res);
        if (body === null) return;
        const durationMs = profileDuration(body);
        if (typeof durationMs === 'string') return json(res, 400, { error: durationMs });
        this.assertApp(name);
        this.deps.note(`dashboard: profile ${name} worker ${profile[2]} (from ${req.socket.remoteAddress ?? '?'})`);
        await profileAction(this.deps.actions, res, SECURITY_HEADERS, name, Number(profile[2]), durationMs);
      };
    }
    const fleetAction = /^\/api\/fleet\/apps\/([^/]+)\/([a-z]+)$/.exec(pathname);
    if (method === 'POST' && fleetAction && (FLEET_ACTIONS as readonly string[]).includes(fleetAction[2] as string)) {
      return (req, res) => this.actOnFleet(req, res, decodeURIComponent(fleetAction[1] as string), fleetAction[2] as FleetActionName);
    }
    return undefined;
  }

  private asset(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void {
    const asset = this.assets.get(pathname);
    if (!asset) {
      if (pathname === '/') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('the dashboard page is not built: run `npm run build` in the herd package\n');
      return json(res, 404, { error: `no ${pathname}` });
    }
    const headers: http.OutgoingHttpHeaders = { ...SECURITY_HEADERS, 'content-type': asset.type, etag: asset.etag, 'cache-control': 'no-cache', vary: 'accept-encoding' };
    if (req.headers['if-none-match'] === asset.etag) return void res.writeHead(304, headers).end();
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    const body = gzip ? asset.gzip : asset.body;
    if (gzip) headers['content-encoding'] = 'gzip';
    headers['content-length'] = body.length;
    res.writeHead(200, headers).end(req.method === 'HEAD' ? undefined : body);
  }

  /** An action's JSON body, once the request passed the cross-site checks; null when it was answered 403 or 400. */
  private async actionBody(req: http.IncomingMessage, res: http.ServerResponse): Promise<Record<string, unknown> | null> {
    const problem = this.auth?.crossSiteProblem(req);
    if (problem) {
      json(res, 403, { error: problem });
      return null;
    }
    try {
      return await readJson(req);
    } catch (err) {
      json(res, 400, { error: (err as Error).message });
      return null;
    }
  }

  /** NDJSON: progress lines while the operation runs, then its result. */
  private async act(req: http.IncomingMessage, res: http.ServerResponse, name: string, action: ActionName): Promise<void> {
    const body = await this.actionBody(req, res);
    if (body === null) return;
    const count = typeof body.count === 'string' || typeof body.count === 'number' ? String(body.count) : null;
    if (action === 'scale' && count === null) return json(res, 400, { error: 'scale needs { "count": N, "+N" or "-N" }' });
    this.assertApp(name); // a 404 before anything streams
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const send = (line: ActionLine) => res.write(`${JSON.stringify(line)}\n`);
    const progress = (message: string) => send({ kind: 'progress', message });
    this.deps.note(`dashboard: ${action}${count === null ? '' : ` ${count}`} ${name} (from ${req.socket.remoteAddress ?? '?'})`);
    try {
      const message = await this.run(action, name, count ?? '', progress);
      send({ kind: 'result', ok: true, message });
    } catch (err) {
      send({ kind: 'result', ok: false, error: toErrorData(err) });
    }
    res.end();
  }

  /** NDJSON as act(): progress lines from every host, what they answered (or the rollout's report), then the result. */
  private async actOnFleet(req: http.IncomingMessage, res: http.ServerResponse, app: string, action: FleetActionName): Promise<void> {
    const body = await this.actionBody(req, res);
    if (body === null) return;
    const request = fleetActionRequest(action, app, body);
    if (typeof request === 'string') return json(res, 400, { error: request });
    const fleet = this.deps.fleet;
    // Asked now, not at construction: the host may have joined since (`herd start <config>`).
    if (fleet === null || (await fleet.status()) === null) return json(res, 409, { error: `this host has joined no fleet: ${NO_FLEET_HINT}`, code: 'HERD_ERR_FLEET_OFF' });
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    const where = request.hosts === null ? 'every host' : `host ${request.hosts.join(', ')}`;
    this.deps.note(`dashboard: fleet ${action}${request.count === null ? '' : ` ${request.count}`} ${app} on ${where} (from ${req.socket.remoteAddress ?? '?'})`);
    await runFleetAction(fleet, request, (line: FleetActionLine) => res.write(`${JSON.stringify(line)}\n`));
    res.end();
  }

  private async run(action: ActionName, name: string, count: string, progress: (message: string) => void): Promise<string> {
    const a = this.deps.actions;
    switch (action) {
      case 'reload':
        await a.reload(name, null, progress);
        return `reloaded ${name}`;
      case 'restart':
        await a.restart(name);
        return `restarted ${name}`;
      case 'stop':
        await a.stop(name);
        return `stopped ${name}`;
      case 'start': {
        const { started } = await a.startApp(name);
        return started.length > 0 ? `started ${name}` : `${name} is already running`;
      }
      case 'scale': {
        const { from, to } = await a.scale(name, count, progress);
        return `${name}: ${from} -> ${to} workers`;
      }
    }
  }

  private assertApp(name: string): void {
    if (!this.deps.source.names().includes(name)) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });
  }

  /** Server-Sent Events: one `history` event with the last lines on disk, then a `line` event per new line. */
  private async logStream(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> {
    const app = url.searchParams.get('app');
    if (app === null) return json(res, 400, { error: 'logs need ?app=NAME' });
    this.assertApp(app);
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', 'cache-control': 'no-store', 'x-accel-buffering': 'no' });
    this.streams.add(res);
    // Subscribe before reading the files, and hold live lines until the history is out.
    let held: DashboardLogLine[] | null = [];
    let skipped = 0;
    const event = (name: string, data: unknown) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    const off = this.deps.subscribe((line) => {
      if (line.app !== app) return;
      if (held !== null) return void held.push(line);
      if (res.writableLength > MAX_UNSENT) {
        skipped++;
        return;
      }
      if (skipped > 0) {
        event('skipped', skipped);
        skipped = 0;
      }
      event('line', line);
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    req.on('close', () => {
      off();
      clearInterval(heartbeat);
      this.streams.delete(res);
    });
    const history = this.deps.logDir === null ? [] : await readTail(this.deps.logDir, app, STREAMS, TAIL_LINES);
    // A line held while the files were read may be on disk by now too: send it once.
    const key = (l: DashboardLogLine) => `${l.time} ${l.stream} ${l.worker} ${l.msg}`;
    const onDisk = new Set(history.map(key));
    const fresh = (held ?? []).filter((l) => !onDisk.has(key(l)));
    held = null;
    event('history', [...history, ...fresh].slice(-TAIL_LINES));
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function unauthorised(res: http.ServerResponse, pathname: string): void {
  if (pathname.startsWith('/api/')) return json(res, 401, { error: 'unauthorised: open the URL that `herd dashboard` prints, or send Authorization: Bearer <token>' });
  const page = '<!doctype html><meta charset="utf-8"><title>herd: unauthorised</title><h1>401: unauthorised</h1><p>Open the URL that <code>herd dashboard</code> prints: it carries the access token.</p>';
  res.writeHead(401, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(page);
}

function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      text += chunk;
      if (text.length > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
      }
    });
    req.on('end', () => {
      if (text.trim() === '') return resolve({});
      try {
        const value: unknown = JSON.parse(text);
        if (typeof value !== 'object' || value === null || Array.isArray(value)) reject(new Error('body must be a JSON object'));
        else resolve(value as Record<string, unknown>);
      } catch {
        reject(new Error('body is not JSON'));
      }
    });
    req.on('error', reject);
  });
}
