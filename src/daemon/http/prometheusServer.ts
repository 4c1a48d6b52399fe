import * as http from 'node:http';
import type { PrometheusSettings } from '../../config/types';
import { HerdError } from '../../errors';
import { secretMatches } from '../../util/secret';

/**
 * The opt-in Prometheus endpoint (`metrics: { prometheus: { port, host } }`).
 * It renders what the daemon already aggregated, so a scrape costs no worker
 * a thing and a dead worker cannot fail it. Loopback by default; with a token,
 * scrapes need `Authorization: Bearer <token>`.
 */
export class PrometheusServer {
  private server: http.Server | null = null;
  private current: PrometheusSettings | null = null;

  constructor(private readonly render: () => string) {}

  /** The address served, e.g. 'http://127.0.0.1:9464/metrics', or null. */
  get address(): string | null {
    const a = this.server?.address();
    if (!a || typeof a === 'string') return null;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/metrics`;
  }

  /** Serve with these settings (restarting on a change); null stops serving. */
  async configure(settings: PrometheusSettings | null): Promise<string | null> {
    if (same(settings, this.current) && (settings === null || this.server !== null)) return this.address;
    await this.close();
    if (settings === null) return null;
    const server = http.createServer((req, res) => this.handle(req, res, settings));
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new HerdError('HERD_ERR_METRICS_LISTEN', { address: `${settings.host}:${settings.port}`, reason: err.message })));
      server.listen(settings.port, settings.host, () => resolve());
    });
    server.on('error', () => {});
    this.server = server;
    this.current = settings;
    return this.address;
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.current = null;
    if (!server) return Promise.resolve();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, settings: PrometheusSettings): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; metrics are at /metrics\n');
      return;
    }
    if (settings.token !== null && !authorised(req.headers.authorization, settings.token)) {
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
