import * as http from 'node:http';
import type { HealthEndpointSpec } from '../../config/types';
import { HerdError } from '../../errors';
import { closeServer, daemonNote, rebind, withBoundPort, type Endpoint } from './listen';

/**
 * Readiness and liveness of the supervisor, for load balancers and
 * Kubernetes probes:
 *  - GET /ready: 200 while every app that is not stopped has its `minReady`
 *    workers online; 503 otherwise, and from the moment a shutdown starts,
 *    for `shutdownDelay` before the workers drain (lightship's
 *    shutdownDelay), so the load balancer stops sending traffic before any
 *    worker stops accepting it.
 *  - GET /live: 200 while the supervisor's event loop answers (a stuck
 *    supervisor answers nothing, which a probe counts as a failure); it stays
 *    200 while draining, so the orchestrator does not kill a clean shutdown.
 * Binds 127.0.0.1 unless `host` says otherwise; answers nothing but status.
 */
export interface ReadinessSource {
  ready(): { ok: boolean; apps: { name: string; ready: number; needed: number }[] };
}

export class HealthEndpoint {
  private server: http.Server | null = null;
  private spec: HealthEndpointSpec | null = null;
  private shuttingDown = false;
  private readonly startedAt = Date.now();

  private readonly endpoint: Endpoint;

  constructor(private readonly source: ReadinessSource, note: (line: string) => void = daemonNote) {
    this.endpoint = {
      name: 'the health endpoint',
      failure: (address, reason) => new HerdError('HERD_ERR_HEALTH_LISTEN', { address, reason }),
      note,
    };
  }

  get shutdownDelay(): number {
    return this.spec?.shutdownDelay ?? 0;
  }

  /**
   * Listen as `spec` says. The same address only updates the delay; a new one
   * is bound before the old one closes, so a bad address leaves it serving.
   */
  async configure(spec: HealthEndpointSpec): Promise<void> {
    if (this.server !== null && this.spec?.port === spec.port && this.spec.host === spec.host) {
      this.spec = spec;
      return;
    }
    const server = http.createServer((req, res) => this.handle(req, res));
    await rebind(server, spec, this.endpoint, () => this.close());
    server.unref();
    this.server = server;
    this.spec = spec;
  }

  /** The listening server and its settings, for `herd update` to hand to the next daemon; null when off. */
  handover(): { server: http.Server; spec: HealthEndpointSpec } | null {
    return this.server && this.spec ? { server: this.server, spec: withBoundPort(this.spec, this.server) } : null;
  }

  /** Where /ready and /live serve now (the port the kernel picked for 0), for the fleet summary; null when off. */
  address(): { host: string; port: number } | null {
    if (!this.server || !this.spec) return null;
    const { host, port } = withBoundPort(this.spec, this.server);
    return { host, port };
  }

  /** /ready answers 503 from now on. */
  beginShutdown(): void {
    this.shuttingDown = true;
  }

  close(): Promise<void> {
    const server = this.server;
    this.server = null;
    return closeServer(server);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?', 1)[0];
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(405, { error: 'GET only' });
    if (path === '/live') return reply(200, { live: true, pid: process.pid, uptimeMs: Date.now() - this.startedAt });
    if (path === '/ready') {
      if (this.shuttingDown) return reply(503, { ready: false, reason: 'shutting down' });
      const { ok, apps } = this.source.ready();
      return reply(ok ? 200 : 503, { ready: ok, apps });
    }
    reply(404, { error: 'try /ready or /live' });
  }
}
