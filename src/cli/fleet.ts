import { randomUUID } from 'node:crypto';
import { HerdError } from '../errors';
import type { RolloutReport } from '../fleet/rollout';
import type { FleetView } from '../fleet/status';
import { formatBytes, parseDuration } from '../util/units';
import { usage, type ParsedArgs } from './args';
import { printJson } from './output';
import { progressPrinter, withClient, type Command } from './session';
import { table } from './format';

const EXIT_OK = 0;
/** The registry could not be read: what is shown is what this host knows, and scripts can tell. */
const EXIT_UNSEEN = 1;

const EXIT_FAILED = 1;

const USAGE = '`herd fleet status`, or `herd fleet <reload|restart|stop|start> <app>`, or `herd fleet scale <app> <N>`';

/**
 * `herd fleet status [--json]`: every host of the fleet and its apps, and
 * totals per app. `herd fleet <reload|restart|stop|start|scale> <app> [N]
 * [--host H[,H2]]`: the verb on the hosts through their command streams,
 * with each host's progress; `reload` goes host by host (rollout.ts).
 */
export const fleet: Command = async (args) => {
  const [verb, ...rest] = args.positionals;
  switch (verb) {
    case 'status': {
      if (rest.length > 0) throw usage(`fleet status: unexpected argument "${rest[0]}"`);
      return status(args);
    }
    case 'reload': return reload(args, appArgument(verb, rest, false));
    case 'restart':
    case 'stop':
    case 'start':
    case 'scale': {
      const { app, count } = appArgument(verb, rest, verb === 'scale');
      return command(args, verb, app, count);
    }
    default:
      throw usage(`fleet: expected ${USAGE}${verb === undefined ? '' : `; got "${verb}"`}`);
  }
};

async function status(args: ParsedArgs): Promise<number> {
  const view = await withClient((c) => c.request({ type: 'fleetStatus' }));
  if (args.flags.json === true) printJson(view);
  else process.stdout.write(`${fleetText(view)}\n`);
  if (!view.redis.ok) {
    process.stderr.write(`herd: ${new HerdError('HERD_ERR_FLEET_UNSEEN', { url: view.redis.url, reason: view.redis.error ?? 'unknown' }).message}\n`);
    return EXIT_UNSEEN;
  }
  return EXIT_OK;
}

function appArgument(verb: string, rest: string[], withCount: boolean): { app: string; count: string | null } {
  const [app, count, extra] = rest;
  if (app === undefined) throw usage(`fleet ${verb}: missing the app name`);
  if (withCount && count === undefined) throw usage('fleet scale: missing the number of workers (`herd fleet scale api 4`)');
  const unexpected = withCount ? extra : count;
  if (unexpected !== undefined) throw usage(`fleet ${verb}: unexpected argument "${unexpected}"`);
  return { app, count: withCount ? (count as string) : null };
}

function hostsFlag(args: ParsedArgs): string[] | null {
  const value = args.flags.host;
  if (value === undefined) return null;
  const hosts = typeof value === 'string' ? value.split(',').map((h) => h.trim()).filter((h) => h !== '') : [];
  if (hosts.length === 0) throw usage('--host: expected a host name, or several separated by commas');
  return hosts;
}

/** A CLI duration: `30s`, `5m`, `500ms`; a bare number is seconds. */
function durationFlag(args: ParsedArgs, name: 'settle' | 'timeout', fallbackMs: number): number {
  const value = args.flags[name];
  if (value === undefined) return fallbackMs;
  const ms = typeof value === 'string' ? parseDuration(/^\d+(\.\d+)?$/.test(value.trim()) ? `${value}s` : value) : null;
  if (ms === null || (name === 'timeout' && ms <= 0)) throw usage(`--${name}: expected a duration like 10s or 2m; got ${JSON.stringify(value)}`);
  return ms;
}

/** Per host: long enough for a reload of slow-starting workers; a host that does not take its command is known after 5 s. */
const DEFAULT_TIMEOUT_MS = 5 * 60_000;

async function command(args: ParsedArgs, verb: 'restart' | 'stop' | 'start' | 'scale', app: string, count: string | null): Promise<number> {
  const json = args.flags.json === true;
  const r = await withClient((c) => c.request(
    { type: 'fleetCommand', verb, app, count, hosts: hostsFlag(args), timeoutMs: durationFlag(args, 'timeout', DEFAULT_TIMEOUT_MS) },
    progressPrinter(args),
  ));
  if (json) printJson(r);
  else {
    process.stdout.write(`${table(['host', 'result', 'time'], r.results.map((o) => [o.host, o.ok ? `${verb} done${resultText(o.result)}` : `failed: ${o.message ?? o.code ?? 'unknown'}`, `${(o.ms / 1000).toFixed(1)}s`]))}\n`);
  }
  const failed = r.results.filter((o) => !o.ok);
  if (failed.length > 0 && !json) process.stderr.write(`herd: fleet ${verb} ${app} failed on ${failed.map((o) => o.host).join(', ')}\n`);
  return failed.length > 0 ? EXIT_FAILED : EXIT_OK;
}

function resultText(result: unknown): string {
  if (typeof result !== 'object' || result === null) return '';
  const r = result as { from?: number; to?: number; revision?: string };
  if (typeof r.from === 'number' && typeof r.to === 'number') return ` (${r.from} -> ${r.to} workers)`;
  return typeof r.revision === 'string' ? ` (${r.revision})` : '';
}

/**
 * The rolling reload. Ctrl-C asks the daemon to stop at the next safe point
 * (after the host being reloaded is done and back) and still prints the
 * report; a second Ctrl-C leaves at once (the daemon finishes that host).
 */
async function reload(args: ParsedArgs, { app }: { app: string }): Promise<number> {
  const json = args.flags.json === true;
  const batchText = args.flags.batch;
  const batch = batchText === undefined ? 1 : Number(batchText);
  if (!Number.isInteger(batch) || batch < 1) throw usage(`--batch: expected a number of hosts (1 or more); got ${JSON.stringify(batchText)}`);
  const expect = args.flags['expect-revision'];
  if (expect !== undefined && (typeof expect !== 'string' || expect.trim() === '')) throw usage('--expect-revision: expected a revision as `herd fleet status` shows it');
  const rolloutId = randomUUID();
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts > 1) process.exit(130);
    process.stderr.write('herd: stopping the rollout after the host being reloaded (Ctrl-C again to leave now)\n');
    void withClient((c) => c.request({ type: 'fleetAbort', rollout: rolloutId })).catch(() => undefined);
  };
  process.on('SIGINT', onInterrupt);
  try {
    const report = await withClient((c) => c.request({
      type: 'fleetReload', app, rollout: rolloutId, hosts: hostsFlag(args), batch, drain: args.flags.drain === true,
      expectRevision: typeof expect === 'string' ? expect.trim() : null,
      settleMs: durationFlag(args, 'settle', 0), timeoutMs: durationFlag(args, 'timeout', DEFAULT_TIMEOUT_MS),
    }, progressPrinter(args)));
    if (json) printJson(report);
    else process.stdout.write(`${rolloutText(report)}\n`);
    if (!report.ok && !json) process.stderr.write(`herd: fleet reload ${app} stopped: ${report.stopped ?? 'failed'}\n`);
    return report.ok ? EXIT_OK : EXIT_FAILED;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
}

export function rolloutText(r: RolloutReport): string {
  const rows = table(['host', 'result', 'revision before', 'revision after', 'time', 'why'], r.hosts.map((h) => [
    h.host, h.state, h.before ?? '-', h.after ?? (h.state === 'reloaded' ? '-' : h.before ?? '-'), h.ms === null ? '-' : `${(h.ms / 1000).toFixed(1)}s`, h.message ?? '',
  ]));
  return `${rows}\n${r.ok ? `fleet reload ${r.app}: every host reloaded` : `fleet reload ${r.app} stopped: ${r.stopped ?? 'failed'}`}`;
}

export function fleetText(v: FleetView): string {
  if (!v.redis.ok) return `fleet registry ${v.redis.url}: cannot be read (${v.redis.error ?? 'unknown'}); this host (${v.self}) serves on its own`;
  const hosts = table(['host', 'address', 'herd', 'last seen', 'state'],
    v.hosts.map((h) => [h.name === v.self ? `${h.name} (this)` : h.name, h.address || '-', h.version || '-', `${h.lastSeenS}s ago`, h.online ? 'up' : h.problem ? 'refused' : 'down']));
  const refused = v.hosts.filter((h) => h.problem).map((h) => `${h.name}: ${h.problem}`);
  const apps = table(['app', 'host', 'status', 'workers', 'revision', 'rps', 'p99', 'errors', 'cpu', 'memory'],
    v.hosts.filter((h) => h.online).flatMap((h) => h.apps.map((a) => [
      a.name, h.name, a.status, `${a.online}/${a.workers}`, a.disk && a.disk !== a.revision ? `${a.revision} (on disk: ${a.disk})` : a.revision, a.rps.toFixed(1), `${Math.round(a.p99)}ms`,
      `${(a.errorRate * 100).toFixed(1)}%`, `${a.cpu.toFixed(0)}%`, formatBytes(a.memory),
    ])));
  const totals = table(['app', 'hosts', 'workers', 'revisions', 'rps', 'p50', 'p99', 'errors', 'cpu', 'memory'],
    v.apps.map((a) => [
      a.name, String(a.hosts), `${a.online}/${a.workers}`, a.revisions.join(', '), a.rps.toFixed(1), `${Math.round(a.p50)}ms`, `${Math.round(a.p99)}ms`,
      `${(a.errorRate * 100).toFixed(1)}%`, `${a.cpu.toFixed(0)}%`, formatBytes(a.memory),
    ]));
  return [`fleet registry ${v.redis.url}: ${v.hosts.filter((h) => h.online).length} of ${v.hosts.length} host(s) up`, '', hosts, ...(refused.length > 0 ? ['', 'refused (counted as down):', ...refused] : []), '', apps, '', 'fleet totals (percentiles from merged latency buckets):', totals].join('\n');
}
