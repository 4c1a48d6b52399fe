import * as http from 'node:http';
import type { PrometheusSettings } from '../../config/types';
import { HerdError } from '../../errors';
import { secretMatches } from '../../util/secret';
import { closeServer, daemonNote, rebind, withBoundPort, type Endpoint } from './listen';

/**
 * The opt-in Prometheus endpoint (`metrics: { prometheus: { port, host } }`).
 * It renders what the daemon already aggregated, so a scrape costs no worker
 * a thing and a dead worker cannot fail it. Loopback by default; with a token,
 * scrapes need `Authorization: Bearer <token>`.
 */
export class PrometheusServer {
  private server: http.Server | null = null;
  private current: PrometheusSettings | null = null;
  /** The token the server checks; a new one on the same address is swapped in here. */
  private guard: { token: string | null } = { token: null };
  private readonly endpoint: Endpoint;

  constructor(private readonly render: () => string, note: (line: string) => void = daemonNote) {
    this.endpoint = {
      name: 'the Prometheus endpoint',
      failure: (address, reason) => new HerdError('HERD_ERR_METRICS_LISTEN', { address, reason }),
      note,
    };
  }

  /** The address served, e.g. 'http://127.0.0.1:9464/metrics', or null. */
  get address(): string | null {
    const a = this.server?.address();
    if (!a || typeof a === 'string') return null;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/metrics`;
  }

  /**
   * Serve with these settings; null stops serving. A new address is bound
   * before the old one closes, so one that cannot be bound leaves the
   * endpoint where it was; a new token on the same port only changes the token.
   */
  async configure(settings: PrometheusSettings | null): Promise<string | null> {
    if (same(settings, this.current) && (settings === null || this.server !== null)) return this.address;
    if (settings === null) {
      await this.close();
      return null;
    }
    // The port it is bound to, even when it was asked for port 0: a second server could not bind it first.
    const bound = (this.server?.address() as { port?: number } | null)?.port;
    if (this.current !== null && settings.port !== 0 && settings.port === bound && settings.host === this.current.host) {
      this.guard.token = settings.token;
      this.current = settings;
      return this.address;
    }
    const guard = { token: settings.token };
    const server = http.createServer((req, res) => this.handle(req, res, guard));
    server.keepAliveTimeout = 5000;
    await rebind(server, settings, this.endpoint, () => this.close());
    this.server = server;
    this.current = settings;
    this.guard = guard;
    return this.address;
  }

  /** The listening server and its settings, for `herd update` to hand to the next daemon; null when off. */
  handover(): { server: http.Server; settings: PrometheusSettings } | null {
    return this.server && this.current ? { server: this.server, settings: withBoundPort(this.current, this.server) } : null;
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.current = null;
    return closeServer(server);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, guard: { readonly token: string | null }): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (guard.token !== null && !authorised(req.headers.authorization, guard.token)) {
      res.writeHead(401, { 'content-type': 'text/plain', 'www-authenticate': 'Bearer' }).end('unauthorised\n');
      return;
    }
    let body: string;
    try {
      body = this.render();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`herd: ${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : body);
  }
}

function authorised(header: string | undefined, token: string): boolean {
  return secretMatches(header, `Bearer ${token}`);
}

function same(a: PrometheusSettings | null, b: PrometheusSettings | null): boolean {
  return a === b || (a !== null && b !== null && a.port === b.port && a.host === b.host && a.token === b.token);
}
