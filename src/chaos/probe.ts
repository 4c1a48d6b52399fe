/**
 * The probe traffic of `herd chaos`: `connections` keep-alive clients, each
 * sending a GET as soon as its previous one ended, every outcome counted in
 * the phase it ended in (the baseline before the first kill, or during the
 * kills). A response with a status below 500 is a success; a 5xx, a socket
 * error or a timeout is a failure, counted by kind (`ECONNRESET`, `HTTP 503`).
 * Latencies (of successes only) go into a histogram per phase.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { createHistogram, performance, type RecordableHistogram } from 'node:perf_hooks';

export type Phase = 'before' | 'during';

export interface PhaseCounts {
  ok: number;
  failed: number;
  errors: Record<string, number>;
  /** Wall time of the phase, ms (until stop() for the phase still open). */
  ms: number;
  latency: RecordableHistogram;
}

/** A client that just failed waits this long: a refused port must not turn the probe into a busy loop. */
const ERROR_PAUSE_MS = 10;

function newPhase(): PhaseCounts {
  return { ok: 0, failed: 0, errors: {}, ms: 0, latency: createHistogram() };
}

export class Probe {
  private running = true;
  private phase: Phase = 'before';
  private phaseStart = performance.now();
  readonly phases: Record<Phase, PhaseCounts> = { before: newPhase(), during: newPhase() };
  private readonly agent: http.Agent;
  private readonly loops: Promise<void>[];
  private readonly url: URL;

  constructor(url: string, connections: number, private readonly timeoutMs: number) {
    this.url = new URL(url);
    const AgentClass = this.url.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new AgentClass({ keepAlive: true, maxSockets: connections });
    this.loops = Array.from({ length: connections }, () => this.loop());
  }

  /** Failures so far, every phase: kills read it to count what each one cost. */
  get failures(): number {
    return this.phases.before.failed + this.phases.during.failed;
  }

  /** From now on outcomes count as `during` (called at the first kill). */
  startKills(): void {
    if (this.phase === 'during') return;
    const now = performance.now();
    this.phases.before.ms = now - this.phaseStart;
    this.phase = 'during';
    this.phaseStart = now;
  }

  /** Stop sending; resolves when every client's last request ended. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.phases[this.phase].ms = performance.now() - this.phaseStart;
    this.agent.destroy();
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const ok = await this.one();
      if (!ok && this.running) await new Promise((resolve) => setTimeout(resolve, ERROR_PAUSE_MS));
    }
  }

  private one(): Promise<boolean> {
    const started = performance.now();
    const get = this.url.protocol === 'https:' ? https.get : http.get;
    return new Promise((resolve) => {
      let settled = false;
      const done = (failure: string | null): void => {
        if (settled) return;
        settled = true;
        const counts = this.phases[this.phase];
        if (failure === null) {
          counts.ok++;
          counts.latency.record(Math.max(1, Math.round((performance.now() - started) * 1000)));
        } else {
          counts.failed++;
          counts.errors[failure] = (counts.errors[failure] ?? 0) + 1;
        }
        resolve(failure === null);
      };
      const req = get(this.url, { agent: this.agent, headers: { 'user-agent': 'herd-chaos' } }, (res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        res.on('end', () => done(status >= 500 ? `HTTP ${status}` : null));
        res.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error('probe request timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    });
  }
}
