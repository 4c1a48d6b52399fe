import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { Histogram } from '../metrics/histogram';
import { errorKind, type BenchRecorder } from './recorder';

/**
 * Open-loop load (`--rate R`), written with node:http rather than
 * autocannon: autocannon's rate limit sends each connection's quota for the
 * second in a burst and then waits for the next second, and its correction
 * for coordinated omission back-fills with a 1 ms interval whatever the rate.
 *
 * Here request i is due at start + i/R whatever happened before it, and its
 * latency is measured from that intended send time, not from when a free
 * connection finally took it. A server that stalls for a second therefore
 * shows the second of queueing its users would see (requests wait in the
 * agent's queue for one of the `connections` sockets), instead of one slow
 * request among many fast ones.
 */

/** When request `index` (0-based) is meant to go out, on the clock of `startMs`. */
export function intendedAt(startMs: number, index: number, rate: number): number {
  return startMs + (index * 1000) / rate;
}

/** How many requests of a run are due by `now`: those whose intended time has come, at most `total`. */
export function dueBy(startMs: number, now: number, rate: number, total: number): number {
  if (now < startMs) return 0;
  return Math.min(total, Math.floor(((now - startMs) * rate) / 1000) + 1);
}

/** The requests of a run of `durationMs` at `rate`/s. */
export function plannedRequests(rate: number, durationMs: number): number {
  return Math.max(1, Math.floor((rate * durationMs) / 1000));
}

/** The latency a user saw: from when the request was meant to go out to when the response ended. */
export function correctedLatency(intended: number, done: number): number {
  return Math.max(0, done - intended);
}

export interface OpenLoopTarget {
  host: string;
  port: number;
  path: string;
}

/**
 * How late the generator itself sent its requests (its own event loop busy
 * or descheduled). That delay is in the corrected latencies too, so it is
 * reported, and a large one makes the run invalid.
 */
export interface OpenLoopDone {
  sent: number;
  sendLag: Histogram;
}

export interface OpenLoopRun {
  /** Resolves when every request sent has been answered, failed or timed out. */
  done: Promise<OpenLoopDone>;
  /** Stop sending; what is in flight still completes. */
  stop(): void;
}

const REQUEST_TIMEOUT_MS = 10_000;

export function runOpenLoop(target: OpenLoopTarget, rate: number, connections: number, durationMs: number, recorder: BenchRecorder, startMs: number): OpenLoopRun {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
  const total = plannedRequests(rate, durationMs);
  let sent = 0;
  let outstanding = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  const sendLag = new Histogram();
  let finish: (v: OpenLoopDone) => void = () => undefined;
  const done = new Promise<OpenLoopDone>((resolve) => (finish = resolve));

  const settle = () => {
    if ((stopped || sent >= total) && outstanding === 0) {
      agent.destroy();
      finish({ sent, sendLag });
    }
  };

  const send = (intended: number) => {
    outstanding++;
    let ended = false;
    const end = (fn: () => void) => {
      if (ended) return;
      ended = true;
      outstanding--;
      fn();
      settle();
    };
    const req = http.request({ host: target.host, port: target.port, path: target.path, method: 'GET', agent }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => end(() => {
        const now = performance.now();
        recorder.response(now, res.statusCode ?? 0, correctedLatency(intended, now));
      }));
      res.on('error', (err) => end(() => recorder.error(performance.now(), errorKind(err))));
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('request timed out'), { code: 'timeout' })));
    req.on('error', (err) => end(() => recorder.error(performance.now(), errorKind(err))));
    req.end();
  };

  const tick = () => {
    timer = null;
    if (stopped) return settle();
    const now = performance.now();
    const due = dueBy(startMs, now, rate, total);
    for (; sent < due; sent++) {
      const intended = intendedAt(startMs, sent, rate);
      sendLag.observe(Math.max(0, now - intended));
      send(intended);
    }
    if (sent >= total) return settle();
    timer = setTimeout(tick, Math.max(0, intendedAt(startMs, sent, rate) - performance.now()));
  };
  tick();

  return {
    done,
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      settle();
    },
  };
}
