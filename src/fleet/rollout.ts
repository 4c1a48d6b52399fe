/**
 * The fleet-wide rolling reload: host by host (or `batch` at a time), each
 * optionally taken out of the load balancer first, reloaded with the local
 * zero-loss reload, watched for `settle`, and put back; the first failure
 * stops it. A host's own reload keeps its old workers when the new ones
 * fail, so a stop leaves every host serving: those reached on the new code,
 * the rest untouched.
 */
import type { HostOutcome } from './commandSender';
import type { FleetVerb } from './commands';
import type { FleetView } from './status';

export interface RolloutOptions {
  app: string;
  /** Hosts reloaded at the same time. */
  batch: number;
  /** Take each host out of the load balancer before its reload, and put it back after. */
  drain: boolean;
  /** Refuse to start unless every host's code on disk is this revision. */
  expectRevision: string | null;
  /** After its reload, a host is watched this long: every worker online, its 5xx rate not above the rest of the fleet's. */
  settleMs: number;
  /** Only these hosts (default: every host that lists the app). */
  hosts: string[] | null;
}

/** How a host is taken out of the load balancer and put back (HAProxy's runtime API). */
export interface Balancer {
  /** Before any host moves: the balancer answers and knows every host (else the rollout does not begin). */
  check?(hosts: readonly string[]): Promise<void>;
  /** Out of rotation, and resolved once it has no connections left (or after the drain timeout, said in a progress line). */
  drain(host: string): Promise<void>;
  ready(host: string): Promise<void>;
}

export interface RolloutDeps {
  view(): Promise<FleetView>;
  /** Run a verb on one host and wait for its result. */
  run(host: string, verb: FleetVerb, progress: (line: string) => void): Promise<HostOutcome>;
  balancer: Balancer | null;
  progress(line: string): void;
  /** Ctrl-C: stop at the next safe point (between hosts). */
  aborted(): boolean;
  sleep(ms: number): Promise<void>;
}

export type HostState = 'reloaded' | 'failed' | 'down' | 'not reached' | 'refused' | 'skipped (down)';

export interface RolloutHost {
  host: string;
  state: HostState;
  /** The revision its workers run, before and after (null when not known). */
  before: string | null;
  after: string | null;
  /** The code on disk, when it was asked (`--expect-revision`). */
  disk: string | null;
  message: string | null;
  ms: number | null;
}

export interface RolloutReport {
  app: string;
  ok: boolean;
  /** Why the rollout stopped before its end, or null. */
  stopped: string | null;
  hosts: RolloutHost[];
}

/** A 5xx rate this far above the rest of the fleet's is noise, not a broken host (one error in a thousand). */
const SETTLE_TOLERANCE = 0.001;

export async function rollout(o: RolloutOptions, d: RolloutDeps): Promise<RolloutReport> {
  const view = await d.view();
  if (!view.redis.ok) throw new Error(`the fleet registry cannot be read: ${view.redis.error ?? 'unknown'}`);
  const listing = view.hosts.filter((h) => h.apps.some((a) => a.name === o.app) || (!h.online && o.hosts?.includes(h.name)));
  const chosen = o.hosts ? listing.filter((h) => o.hosts?.includes(h.name)) : listing;
  for (const name of o.hosts ?? []) {
    if (!view.hosts.some((h) => h.name === name)) throw new Error(`--host ${name}: no such host in the fleet (hosts: ${view.hosts.map((h) => h.name).join(', ') || 'none'})`);
    if (!chosen.some((h) => h.name === name)) throw new Error(`--host ${name}: that host runs no app "${o.app}"`);
  }
  if (chosen.length === 0) throw new Error(`no host of the fleet runs an app "${o.app}"`);
  const rows: RolloutHost[] = chosen.map((h) => ({
    host: h.name,
    state: h.online ? 'not reached' : 'skipped (down)',
    before: h.apps.find((a) => a.name === o.app)?.revision ?? null,
    after: null,
    disk: null,
    message: h.online ? null : 'down when the rollout began',
    ms: null,
  }));
  const report = (ok: boolean, stopped: string | null): RolloutReport => ({ app: o.app, ok, stopped, hosts: rows });
  const targets = rows.filter((r) => r.state === 'not reached');
  for (const r of rows) if (r.state === 'skipped (down)') d.progress(`${r.host}: down, skipped`);

  if (o.expectRevision !== null) {
    const expected = o.expectRevision;
    const answers = await Promise.all(targets.map((r) => d.run(r.host, 'revision', () => undefined)));
    let wrong = 0;
    answers.forEach((a, i) => {
      const r = targets[i] as RolloutHost;
      const disk = a.ok ? (a.result as { revision?: string } | null)?.revision ?? null : null;
      r.disk = disk;
      if (!a.ok || disk === null || !sameRevision(disk, expected)) {
        wrong++;
        r.state = 'refused';
        r.message = a.ok ? `its code on disk is ${disk ?? 'unknown'}, not ${expected}` : a.message;
      }
    });
    if (wrong > 0) return report(false, `${wrong} host(s) do not have revision ${expected} on disk; nothing was reloaded`);
    d.progress(`every host has revision ${expected} on disk`);
  }

  if (o.drain && d.balancer?.check) await d.balancer.check(targets.map((r) => r.host));

  for (let i = 0; i < targets.length; i += Math.max(1, o.batch)) {
    if (d.aborted()) return report(false, 'stopped by Ctrl-C before the next host');
    const batch = targets.slice(i, i + Math.max(1, o.batch));
    const failures = (await Promise.all(batch.map((r) => reloadOne(r, o, d)))).filter((f): f is string => f !== null);
    if (failures.length > 0) return report(false, failures.join('; '));
  }
  return report(true, null);
}

/** One host through drain, reload, settle and back; null when it went well, else why the rollout stops. */
async function reloadOne(r: RolloutHost, o: RolloutOptions, d: RolloutDeps): Promise<string | null> {
  const started = Date.now();
  const say = (line: string) => d.progress(`${r.host}: ${line}`);
  const done = (state: HostState, message: string | null) => {
    r.state = state;
    r.message = message;
    r.ms = Date.now() - started;
    return state === 'reloaded' ? null : `${r.host}: ${message ?? state}`;
  };
  if (o.drain && d.balancer) {
    say('draining in the load balancer');
    try {
      await d.balancer.drain(r.host);
    } catch (err) {
      const back = await d.balancer.ready(r.host).then(() => '', (e: Error) => `; it may be left drained in the load balancer (${e.message})`);
      return done('failed', `could not be drained: ${(err as Error).message}${back}`);
    }
  }
  say('reloading');
  const outcome = await d.run(r.host, 'reload', say);
  if (!outcome.ok) {
    // Its reload kept the old workers (or it is gone): back into rotation if it serves, HAProxy's checks judge the rest.
    let back = '';
    if (o.drain && d.balancer) {
      back = outcome.code === 'down'
        ? '; it is left drained in the load balancer (put it back with `set server <backend>/<host> state ready` once it is up)'
        : await d.balancer.ready(r.host).then(() => '', (e: Error) => `; it is left drained in the load balancer (${e.message})`);
    }
    return done(outcome.code === 'down' ? 'down' : 'failed', `${outcome.message ?? 'failed'}${back}`);
  }
  r.after = (outcome.result as { revision?: string } | null)?.revision ?? null;
  if (o.settleMs > 0) {
    say(`settling for ${Math.round(o.settleMs / 1000)} s`);
    const problem = await settle(r.host, o, d);
    if (problem !== null) {
      // Left out of rotation: it serves the new code badly.
      return done('failed', problem + (o.drain && d.balancer ? '; it is left drained in the load balancer' : ''));
    }
  }
  if (o.drain && d.balancer) {
    try {
      await d.balancer.ready(r.host);
    } catch (err) {
      return done('failed', `reloaded, but could not be put back into the load balancer: ${(err as Error).message}`);
    }
    say('back in the load balancer');
  }
  return done('reloaded', null);
}

/**
 * Null when the host stayed healthy for the settle time, else what went
 * wrong. A 5xx rate above the rest of the fleet's fails it at once; workers
 * not all online fail it only when still so at the end (a summary may be a
 * second old and show the reload it just finished).
 */
async function settle(host: string, o: RolloutOptions, d: RolloutDeps): Promise<string | null> {
  const until = Date.now() + o.settleMs;
  for (;;) {
    const view = await d.view();
    const h = view.hosts.find((x) => x.name === host);
    if (!view.redis.ok) return `the fleet registry cannot be read while settling: ${view.redis.error ?? 'unknown'}`;
    if (!h?.online) return 'went down while settling';
    const app = h.apps.find((a) => a.name === o.app);
    if (!app) return `no longer runs ${o.app}`;
    let requests = 0;
    let errors = 0;
    for (const other of view.hosts) {
      if (!other.online || other.name === host) continue;
      for (const a of other.apps) {
        if (a.name !== o.app) continue;
        requests += a.rps;
        errors += a.rps * a.errorRate;
      }
    }
    const fleetRate = requests > 0 ? errors / requests : 0;
    if (app.errorRate > fleetRate + SETTLE_TOLERANCE) {
      return `its 5xx rate ${(app.errorRate * 100).toFixed(2)}% is above the rest of the fleet's ${(fleetRate * 100).toFixed(2)}%`;
    }
    if (Date.now() >= until) return app.online < app.workers ? `${app.online} of ${app.workers} workers online after settling (status ${app.status})` : null;
    await d.sleep(Math.min(1000, until - Date.now()));
  }
}

/** `abc1234` matches `abc1234def56`; a dirty tree matches only when asked for with `-dirty`. */
export function sameRevision(actual: string, expected: string): boolean {
  if (actual === expected) return true;
  if (actual.endsWith('-dirty') !== expected.endsWith('-dirty')) return false;
  const a = actual.replace(/-dirty$/, '');
  const e = expected.replace(/-dirty$/, '');
  return /^[0-9a-f]{7,40}$/.test(a) && /^[0-9a-f]{7,40}$/.test(e) && (a.startsWith(e) || e.startsWith(a));
}
