import * as diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { monitorEventLoopDelay, performance, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';

/**
 * Overload shedding in the worker, before app code, without app code.
 *
 * Two layers, because one alone fails one way or the other:
 *  - Admission, per request: the time the event loop has been busy without
 *    a break (from a 10 ms heartbeat timer that cannot fire while the loop is
 *    busy). When it passes half of `maxEventLoopDelay`, new requests are shed,
 *    so the work already admitted still finishes within the limit. A sampled
 *    figure alone reacts an interval too late: at several times capacity a
 *    worker admits a second of queued work before the next sample sees it.
 *  - State, per sampling interval (500 ms), with hysteresis: the p99
 *    event-loop delay of the last interval (not a mean since start) and the
 *    utilisation over it. Passing a limit sheds every new request; shedding
 *    stops only after a whole interval back under 80% of every limit, so it
 *    does not flap. This catches what admission cannot: long synchronous
 *    requests, GC pauses, a busy loop that ELU shows.
 *  - In flight: a hard cap on admitted requests not yet finished.
 *
 * How a request is stopped before the app: Node publishes every request on
 * the 'http.server.request.start' diagnostics channel with its server,
 * synchronously before `server.emit('request')`. The first time a server is
 * seen, its `emit` is wrapped on that instance, so a shed request is answered
 * 503 + Retry-After and never reaches a 'request' listener. The connection
 * stays open: closing it turns overload into a flood of reconnections whose
 * SYNs queue behind the busy workers (measured: accepted p99 of several
 * seconds with `Connection: close`, 136 ms without, bench/protect.mjs).
 * Wrapping emit (rather than moving the 'request' listeners behind a gate)
 * also covers listeners the app adds later and leaves
 * `listenerCount('request')` as the app set it.
 */
export interface OverloadLimits {
  maxEventLoopDelay: number | null;
  maxEventLoopUtilization: number | null;
  maxInFlight: number | null;
  /** ms; sent rounded up to whole seconds. */
  retryAfter: number;
  exempt: readonly string[];
}

export interface IntervalSample {
  /** p99 event-loop delay over the interval, ms. */
  delayMs: number;
  /** Event-loop utilisation over the interval, 0..1. */
  utilization: number;
}

/**
 * Set on the response of every shed request. Shed requests still pass the
 * 'http.server.request.start' channel (it fires before the gate), so the
 * HTTP probe sees them as 503s; per-request consumers (metrics) tell them
 * from the app's own 503s by this mark.
 */
export const SHED = Symbol.for('herd.shed');

/** Fraction of each limit the figures must fall under, for a whole interval, before shedding stops. */
export const RECOVER_RATIO = 0.8;
/** Admission sheds once the loop has been busy this fraction of maxEventLoopDelay. */
export const ADMIT_RATIO = 0.5;
const SAMPLE_MS = 500;
const HEARTBEAT_MS = 10;

/** The interval-based shedding state with hysteresis; pure, so a test can drive it. */
export class SheddingState {
  shedding = false;

  constructor(private readonly limits: Pick<OverloadLimits, 'maxEventLoopDelay' | 'maxEventLoopUtilization'>) {}

  update(sample: IntervalSample): boolean {
    if (!this.shedding) this.shedding = this.over(sample, 1);
    else if (!this.over(sample, RECOVER_RATIO)) this.shedding = false;
    return this.shedding;
  }

  private over(sample: IntervalSample, ratio: number): boolean {
    const { maxEventLoopDelay: delay, maxEventLoopUtilization: elu } = this.limits;
    return (delay !== null && sample.delayMs >= delay * ratio) || (elu !== null && sample.utilization >= elu * ratio);
  }
}

interface RequestStart {
  request: IncomingMessage;
  response: ServerResponse;
  server?: Server;
}

type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

export class OverloadGuard {
  /** Requests answered 503 since the worker started. */
  shed = 0;
  private inFlight = 0;
  private readonly state: SheddingState;
  private readonly histogram: IntervalHistogram;
  private lastElu: EventLoopUtilization;
  private lastBeat = performance.now();
  private lastSample = performance.now();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly guarded = new WeakSet<object>();
  private readonly channel = diagnostics.channel('http.server.request.start');
  private readonly retryAfter: string;

  constructor(private readonly limits: OverloadLimits) {
    this.state = new SheddingState(limits);
    this.retryAfter = String(Math.max(1, Math.ceil(limits.retryAfter / 1000)));
    this.histogram = monitorEventLoopDelay({ resolution: 10 });
    this.histogram.enable();
    this.lastElu = performance.eventLoopUtilization();
    const sampler = setInterval(() => this.sample(), SAMPLE_MS);
    const heartbeat = setInterval(() => {
      this.lastBeat = performance.now();
    }, HEARTBEAT_MS);
    for (const timer of [sampler, heartbeat]) {
      timer.unref();
      this.timers.push(timer);
    }
    this.channel.subscribe(this.onStart);
  }

  get shedding(): boolean {
    return this.state.shedding;
  }

  close(): void {
    this.channel.unsubscribe(this.onStart);
    for (const timer of this.timers) clearInterval(timer);
    this.histogram.disable();
  }

  /** ms the event loop has been busy without a break (within one heartbeat period). */
  busyMs(): number {
    return performance.now() - this.lastBeat;
  }

  private sample(): void {
    const elu = performance.eventLoopUtilization(this.lastElu);
    this.lastElu = performance.eventLoopUtilization();
    // The histogram's own timer may not yet have recorded a block that just
    // ended; this timer's lateness is a delay sample of the same interval.
    const now = performance.now();
    const late = now - this.lastSample - SAMPLE_MS;
    this.lastSample = now;
    const delayMs = Math.max(late, this.histogram.count > 0 ? this.histogram.percentile(99) / 1e6 : 0);
    this.histogram.reset();
    this.state.update({ delayMs, utilization: elu.utilization });
  }

  /** Whether a new request must be turned away now. */
  shouldShed(url: string | undefined): boolean {
    if (this.isExempt(url)) return false;
    if (this.state.shedding) return true;
    const { maxInFlight, maxEventLoopDelay } = this.limits;
    if (maxInFlight !== null && this.inFlight >= maxInFlight) return true;
    return maxEventLoopDelay !== null && this.busyMs() >= maxEventLoopDelay * ADMIT_RATIO;
  }

  private isExempt(url: string | undefined): boolean {
    const path = (url ?? '/').split('?', 1)[0] ?? '/';
    return this.limits.exempt.includes(path);
  }

  private readonly onStart = (message: unknown): void => {
    const { server } = message as RequestStart;
    if (!server || this.guarded.has(server)) return;
    this.guarded.add(server);
    const original = server.emit as Emit;
    const wrapped: Emit = (event, ...args) => {
      if (event !== 'request') return original.call(server, event, ...args);
      const request = args[0] as IncomingMessage;
      const response = args[1] as ServerResponse;
      if (this.shouldShed(request.url)) {
        this.reject(response);
        return true;
      }
      this.inFlight++;
      response.once('close', () => this.inFlight--);
      return original.call(server, event, ...args);
    };
    server.emit = wrapped as Server['emit'];
  };

  private reject(response: ServerResponse): void {
    this.shed++;
    (response as unknown as Record<symbol, boolean>)[SHED] = true;
    // A request body the app never reads is discarded by Node before the next request.
    response.writeHead(503, {
      'Retry-After': this.retryAfter,
      'Content-Type': 'text/plain',
    });
    response.end('Service Unavailable: overloaded, retry later\n');
  }
}
