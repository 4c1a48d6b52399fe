import { HerdError } from '../errors';
import type { FleetView } from '../fleet/status';
import { formatBytes } from '../util/units';
import { usage } from './args';
import { printJson } from './output';
import { withClient, type Command } from './session';
import { table } from './format';

const EXIT_OK = 0;
/** The registry could not be read: what is shown is what this host knows, and scripts can tell. */
const EXIT_UNSEEN = 1;

/** `herd fleet status [--json]`: every host of the fleet and its apps, and totals per app. */
export const fleet: Command = async (args) => {
  const [verb, ...rest] = args.positionals;
  if (verb !== 'status') throw usage(`fleet: expected \`herd fleet status [--json]\`${verb === undefined ? '' : `; got "${verb}"`}`);
  if (rest.length > 0) throw usage(`fleet status: unexpected argument "${rest[0]}"`);
  const view = await withClient((c) => c.request({ type: 'fleetStatus' }));
  if (args.flags.json === true) printJson(view);
  else process.stdout.write(`${fleetText(view)}\n`);
  if (!view.redis.ok) {
    process.stderr.write(`herd: ${new HerdError('HERD_ERR_FLEET_UNSEEN', { url: view.redis.url, reason: view.redis.error ?? 'unknown' }).message}\n`);
    return EXIT_UNSEEN;
  }
  return EXIT_OK;
};

export function fleetText(v: FleetView): string {
  if (!v.redis.ok) return `fleet registry ${v.redis.url}: cannot be read (${v.redis.error ?? 'unknown'}); this host (${v.self}) serves on its own`;
  const hosts = table(['host', 'address', 'herd', 'last seen', 'state'],
    v.hosts.map((h) => [h.name === v.self ? `${h.name} (this)` : h.name, h.address || '-', h.version || '-', `${h.lastSeenS}s ago`, h.online ? 'up' : 'down']));
  const apps = table(['app', 'host', 'status', 'workers', 'revision', 'rps', 'p99', 'errors', 'cpu', 'memory'],
    v.hosts.filter((h) => h.online).flatMap((h) => h.apps.map((a) => [
      a.name, h.name, a.status, `${a.online}/${a.workers}`, a.revision, a.rps.toFixed(1), `${Math.round(a.p99)}ms`,
      `${(a.errorRate * 100).toFixed(1)}%`, `${a.cpu.toFixed(0)}%`, formatBytes(a.memory),
    ])));
  const totals = table(['app', 'hosts', 'workers', 'revisions', 'rps', 'p50', 'p99', 'errors', 'cpu', 'memory'],
    v.apps.map((a) => [
      a.name, String(a.hosts), `${a.online}/${a.workers}`, a.revisions.join(', '), a.rps.toFixed(1), `${Math.round(a.p50)}ms`, `${Math.round(a.p99)}ms`,
      `${(a.errorRate * 100).toFixed(1)}%`, `${a.cpu.toFixed(0)}%`, formatBytes(a.memory),
    ]));
  return [`fleet registry ${v.redis.url}: ${v.hosts.filter((h) => h.online).length} of ${v.hosts.length} host(s) up`, '', hosts, '', apps, '', 'fleet totals (percentiles from merged latency buckets):', totals].join('\n');
}
