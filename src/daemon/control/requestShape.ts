import { specProblems } from '../../config/specCheck';
import { STREAMS, type Stream } from '../../logs/format';
import type { RequestType } from '../../protocol/control';
import { MAX_PROFILE_MS, MIN_PROFILE_MS } from '../../protocol/profile';
import { parseSignal } from '../../util/signals';

/**
 * The daemon never dies of a bad request: anything arriving on the socket is
 * checked for shape before it reaches a handler. Returns a problem or null.
 */
const STRING_FIELDS: Record<RequestType, readonly string[]> = {
  hello: [],
  start: [],
  stop: ['target'],
  restart: ['target'],
  reload: ['target'],
  delete: ['target'],
  startApp: ['target'],
  reset: ['target'],
  signal: ['name', 'signal'],
  scale: ['name', 'count'],
  list: [],
  describe: ['name'],
  logs: [],
  flush: ['target'],
  metrics: ['name'],
  monit: [],
  alerts: [],
  dashboard: [],
  save: [],
  resurrect: [],
  kill: [],
  update: ['execPath', 'daemonMain'],
  fleetStatus: [],
  fleetCommand: ['verb', 'app'],
  fleetReload: ['app', 'rollout'],
  fleetAbort: ['rollout'],
  jobs: [],
  profile: ['name'],
  heapSnapshot: ['name'],
};

export function requestProblem(request: unknown): string | null {
  if (typeof request !== 'object' || request === null) return 'missing request';
  const r = request as Record<string, unknown>;
  if (typeof r.type !== 'string' || !Object.prototype.hasOwnProperty.call(STRING_FIELDS, r.type)) {
    return `unknown request type ${JSON.stringify(r.type)}`;
  }
  const type = r.type as RequestType;
  for (const field of STRING_FIELDS[type]) {
    if (typeof r[field] !== 'string') return `${type}.${field} must be a string`;
  }
  if (type === 'logs') {
    if (r.name !== null && typeof r.name !== 'string') return 'logs.name must be a string or null';
    if (!Array.isArray(r.streams) || !r.streams.every((s) => STREAMS.includes(s as Stream))) return `logs.streams must be an array of ${STREAMS.join(', ')}`;
  }
  if (type === 'start') return specsProblem(r.apps, 'start.apps') ?? settingsProblem(r.settings);
  if (type === 'metrics' && r.worker !== null && !Number.isInteger(r.worker)) return 'metrics.worker must be an integer or null';
  if (type === 'reload' && r.specs !== null) return specsProblem(r.specs, 'reload.specs');
  if (type === 'restart' && r.specs !== undefined && r.specs !== null) return specsProblem(r.specs, 'restart.specs');
  if (type === 'signal') {
    if (parseSignal(r.signal as string) === null) return `signal.signal: no signal named ${JSON.stringify(r.signal)}`;
    if (r.worker !== null && !Number.isInteger(r.worker)) return 'signal.worker must be an integer or null';
  }
  if (type === 'fleetCommand' || type === 'fleetReload') {
    const problem = fleetProblem(type, r);
    if (problem !== null) return problem;
  }
  if (type === 'profile') {
    if (r.worker !== null && r.worker !== 'all' && !Number.isInteger(r.worker)) return 'profile.worker must be an integer, "all" or null';
    if (!Number.isInteger(r.durationMs) || (r.durationMs as number) < MIN_PROFILE_MS || (r.durationMs as number) > MAX_PROFILE_MS) {
      return `profile.durationMs must be a whole number of ms from ${MIN_PROFILE_MS} to ${MAX_PROFILE_MS}`;
    }
  }
  if (type === 'save' && typeof r.force !== 'boolean') return 'save.force must be true or false';
  if (type === 'heapSnapshot') {
    if (r.worker !== null && !Number.isInteger(r.worker)) return 'heapSnapshot.worker must be an integer or null';
    if (typeof r.force !== 'boolean') return 'heapSnapshot.force must be true or false';
  }
  if (type === 'dashboard') {
    if (r.port !== null && !isPort(r.port)) return 'dashboard.port must be a port number or null';
    if (r.host !== null && typeof r.host !== 'string') return 'dashboard.host must be a string or null';
  }
  return null;
}

function isPort(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535;
}

function dashboardProblem(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const d = value as Record<string, unknown>;
  if (typeof value !== 'object' || !isPort(d.port) || typeof d.host !== 'string' || (d.token !== null && typeof d.token !== 'string')) {
    return 'start.settings.dashboard must be { port, host, token }';
  }
  return null;
}

function healthProblem(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const h = value as Record<string, unknown>;
  if (typeof value !== 'object' || !Number.isInteger(h.port) || typeof h.host !== 'string' || typeof h.shutdownDelay !== 'number') {
    return 'start.settings.health must be { port, host, shutdownDelay }';
  }
  return null;
}

function alertsProblem(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  const a = value as { webhook?: unknown; rules?: unknown };
  if (typeof value !== 'object' || (a.webhook !== null && typeof a.webhook !== 'string') || !Array.isArray(a.rules)) {
    return 'start.settings.alerts must be { webhook, rules }';
  }
  const num = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  for (const [i, rule] of (a.rules as unknown[]).entries()) {
    const r = rule as Record<string, unknown>;
    if (typeof rule !== 'object' || rule === null || typeof r.metric !== 'string' || (r.app !== null && typeof r.app !== 'string')
      || (r.above !== null && !num(r.above)) || (r.below !== null && !num(r.below)) || !num(r.for) || !num(r.window)) {
      return `start.settings.alerts.rules[${i}] must be { app, metric, above, below, for, window }`;
    }
  }
  return null;
}

function settingsProblem(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object') return 'start.settings must be an object';
  const health = healthProblem((value as { health?: unknown }).health);
  if (health) return health;
  const alerts = alertsProblem((value as { alerts?: unknown }).alerts);
  if (alerts) return alerts;
  const dashboard = dashboardProblem((value as { dashboard?: unknown }).dashboard);
  if (dashboard) return dashboard;
  const fleet = (value as { fleet?: unknown }).fleet;
  if (fleet !== undefined && fleet !== null) {
    const f = fleet as Record<string, unknown>;
    if (typeof fleet !== 'object' || !['redis', 'host', 'address', 'secret'].every((k) => typeof f[k] === 'string')) {
      return 'start.settings.fleet must be { redis, host, address, secret } (strings)';
    }
  }
  const prom = (value as { prometheus?: unknown }).prometheus;
  if (prom === null || prom === undefined) return null;
  if (typeof prom !== 'object') return 'start.settings.prometheus must be an object or null';
  const p = prom as Record<string, unknown>;
  if (!isPort(p.port)) return 'start.settings.prometheus.port must be a port number';
  if (typeof p.host !== 'string') return 'start.settings.prometheus.host must be a string';
  if (p.token !== null && typeof p.token !== 'string') return 'start.settings.prometheus.token must be a string or null';
  return null;
}

/** Every spec is checked whole, by the same rules the config loader ends with (config/specCheck.ts). */
function specsProblem(value: unknown, where: string): string | null {
  if (!Array.isArray(value)) return `${where} must be an array`;
  for (const [i, spec] of value.entries()) {
    const problems = specProblems(spec, `${where}[${i}]`);
    if (problems.length > 0) return problems.join('; ');
  }
  return null;
}

function fleetProblem(type: 'fleetCommand' | 'fleetReload', r: Record<string, unknown>): string | null {
  if (r.hosts !== null && !(Array.isArray(r.hosts) && r.hosts.length > 0 && r.hosts.every((h) => typeof h === 'string'))) return `${type}.hosts must be a list of host names or null`;
  if (!isPositive(r.timeoutMs)) return `${type}.timeoutMs must be a positive integer`;
  if (type === 'fleetCommand') {
    if (!['restart', 'stop', 'start', 'scale'].includes(r.verb as string)) return `fleetCommand.verb must be restart, stop, start or scale; got ${JSON.stringify(r.verb)}`;
    if (r.verb === 'scale' ? typeof r.count !== 'string' : r.count !== null) return 'fleetCommand.count must be a string for scale, else null';
    return null;
  }
  if (!isPositive(r.batch)) return 'fleetReload.batch must be a positive integer';
  if (typeof r.drain !== 'boolean') return 'fleetReload.drain must be true or false';
  if (r.expectRevision !== null && typeof r.expectRevision !== 'string') return 'fleetReload.expectRevision must be a string or null';
  if (!Number.isInteger(r.settleMs) || (r.settleMs as number) < 0) return 'fleetReload.settleMs must be an integer >= 0';
  return null;
}

function isPositive(x: unknown): boolean {
  return Number.isInteger(x) && (x as number) > 0;
}
