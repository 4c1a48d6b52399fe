import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { errorKind, type BenchRecorder } from './recorder';

/**
 * Closed-loop load (no `--rate`): autocannon, each of `connections`
 * keep-alive connections sending its next request as soon as the last one
 * is answered. Latency is from send to response; a closed loop cannot see
 * the requests a stalled server kept its users from sending (coordinated
 * omission): use `--rate` for latency figures users would recognise.
 *
 * autocannon is loaded here only, by `herd bench`: no other command pays
 * for it.
 */

interface AutocannonInstance extends EventEmitter {
  stop(): void;
}
export type Autocannon = (opts: Record<string, unknown>, done: (err: Error | null) => void) => AutocannonInstance;

/** Loaded before the clock starts: on a busy machine loading it takes a good part of a second. */
export function loadAutocannon(): Autocannon {
  return require('autocannon') as Autocannon;
}

export interface ClosedLoopRun {
  done: Promise<void>;
  stop(): void;
}

export function runClosedLoop(autocannon: Autocannon, url: string, connections: number, durationMs: number, recorder: BenchRecorder): ClosedLoopRun {
  let instance: AutocannonInstance | null = null;
  const done = new Promise<void>((resolve, reject) => {
    instance = autocannon({ url, connections, duration: durationMs / 1000, timeout: 10 }, (err) => (err ? reject(err) : resolve()));
  });
  const inst = instance as unknown as AutocannonInstance;
  inst.on('response', (_client: unknown, status: number, _bytes: number, responseTime: number) => {
    recorder.response(performance.now(), status, responseTime);
  });
  inst.on('reqError', (err: unknown) => recorder.error(performance.now(), errorKind(err)));
  return { done, stop: () => inst.stop() };
}
