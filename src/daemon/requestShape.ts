import { STREAMS, type Stream } from '../logs/format';
import type { RequestType } from '../protocol/control';

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
  scale: ['name', 'count'],
  list: [],
  describe: ['name'],
  logs: [],
  flush: ['target'],
  metrics: ['name'],
  monit: [],
  alerts: [],
  dashboard: [],
  kill: [],
};

const SPEC_FIELDS = ['name', 'script', 'cwd', 'interpreter', 'execMode'] as const;

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
  const prom = (value as { prometheus?: unknown }).prometheus;
  if (prom === null || prom === undefined) return null;
  if (typeof prom !== 'object') return 'start.settings.prometheus must be an object or null';
  const p = prom as Record<string, unknown>;
  if (!isPort(p.port)) return 'start.settings.prometheus.port must be a port number';
  if (typeof p.host !== 'string') return 'start.settings.prometheus.host must be a string';
  if (p.token !== null && typeof p.token !== 'string') return 'start.settings.prometheus.token must be a string or null';
  return null;
}

function specsProblem(value: unknown, where: string): string | null {
  if (!Array.isArray(value)) return `${where} must be an array`;
  for (const [i, spec] of value.entries()) {
    if (typeof spec !== 'object' || spec === null) return `${where}[${i}] must be an object`;
    const s = spec as Record<string, unknown>;
    for (const f of SPEC_FIELDS) if (typeof s[f] !== 'string') return `${where}[${i}].${f} must be a string`;
    if (!Number.isInteger(s.instances) || (s.instances as number) < 0) return `${where}[${i}].instances must be an integer >= 0`;
    if (typeof s.env !== 'object' || s.env === null) return `${where}[${i}].env must be an object`;
    if (!Array.isArray(s.args) || !Array.isArray(s.nodeArgs)) return `${where}[${i}].args and nodeArgs must be arrays`;
    if (typeof s.logs !== 'object' || s.logs === null) return `${where}[${i}].logs must be an object`;
    const runtime = runtimeFieldsProblem(s);
    if (runtime) return `${where}[${i}].${runtime}`;
  }
  return null;
}

/** The fields the daemon acts on by itself (cron, watch, PM2 log paths, instance_var). */
function runtimeFieldsProblem(s: Record<string, unknown>): string | null {
  const strings = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string');
  if (typeof s.instanceVar !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(s.instanceVar)) return 'instanceVar must be an environment variable name';
  if (s.cronRestart !== null && typeof s.cronRestart !== 'string') return 'cronRestart must be a string or null';
  const w = s.watch as Record<string, unknown> | null;
  if (w !== null && (typeof w !== 'object' || !strings(w.paths) || !strings(w.ignore) || typeof w.delay !== 'number' || !(w.delay >= 0))) {
    return 'watch must be null or { paths, ignore, delay }';
  }
  const f = s.logFiles as Record<string, unknown> | null;
  const pathOrNull = (v: unknown) => v === null || typeof v === 'string';
  if (typeof f !== 'object' || f === null || !pathOrNull(f.out) || !pathOrNull(f.err) || !pathOrNull(f.combined)) {
    return 'logFiles must be { out, err, combined }, each a path or null';
  }
  return null;
}
