import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { FleetLbSettings, FleetSettings } from './types';
import { readObject, readString, sub } from './readers';
import { isRecord, show } from './report';
import type { Report, Setting } from './report';

/** A host name as the fleet shows it and as HAProxy names its server: letters, digits, `.`, `_`, `-`. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** Shorter secrets can be guessed; the secret is what lets a command move a host. */
const MIN_SECRET = 16;

/**
 * Top level `fleet: { redis, host, address, secret, secretFile }`. The
 * secret comes from `secret`, else the file `secretFile` (relative to the
 * config file), else env HERD_FLEET_SECRET; the Redis password from the URL,
 * else env HERD_FLEET_REDIS_PASSWORD. Both are read here, by the CLI, and
 * reach the daemon only over its private socket.
 */
export function readFleet(s: Setting, baseDir: string, env: Readonly<Record<string, string>>, r: Report): FleetSettings | null {
  const obj = readObject(s, ['redis', 'host', 'address', 'secret', 'secretFile', 'lb'], r);
  if (s === undefined || obj === undefined) return null;
  const redisSetting = sub(obj, 'redis', s.key);
  const redis = redisSetting === undefined ? undefined : readString(redisSetting, r);
  let url: URL | null = null;
  if (redisSetting === undefined) r.problem(`${s.key}.redis`, "is required: the Redis URL every host of the fleet uses, e.g. 'redis://10.0.0.5:6379'");
  else if (redis !== undefined) {
    url = safeUrl(redis);
    if (url === null || (url.protocol !== 'redis:' && url.protocol !== 'rediss:') || url.hostname === '') {
      r.problem(redisSetting.key, `must be a redis:// or rediss:// URL with a host; got ${JSON.stringify(redacted(redis))}`);
      url = null;
    }
  }
  if (url !== null && url.password === '' && env.HERD_FLEET_REDIS_PASSWORD) url.password = env.HERD_FLEET_REDIS_PASSWORD;
  const host = readString(sub(obj, 'host', s.key), r) ?? os.hostname().split('.')[0] ?? 'localhost';
  if (!HOST_NAME.test(host)) r.problem(`${s.key}.host`, `must be 1-63 letters, digits, '.', '_' or '-' (it names this host's server in HAProxy); got ${JSON.stringify(host)}`);
  const address = readString(sub(obj, 'address', s.key), r) ?? firstIPv4();
  if (address === null) r.problem(`${s.key}.address`, 'is required on a machine without a non-loopback IPv4 address: how a load balancer reaches this host');
  const secret = readSecret(obj, s.key, baseDir, env, r);
  const lb = readLb(sub(obj, 'lb', s.key), r);
  if (url === null || secret === null || address === null || !HOST_NAME.test(host) || lb === null) return null;
  return { redis: url.toString(), host, address, secret, ...(lb === undefined ? {} : { lb }) };
}

/** A name HAProxy accepts for a backend (and that travels safely in a runtime API command). */
const BACKEND_NAME = /^[A-Za-z0-9._:-]{1,100}$/;

/** `fleet.lb: { haproxy: { socket, backend } }`; undefined when absent, null when invalid (reported). */
function readLb(s: Setting, r: Report): FleetLbSettings | null | undefined {
  const lb = readObject(s, ['haproxy'], r);
  if (s === undefined) return undefined;
  if (lb === undefined) return null;
  const hs = sub(lb, 'haproxy', s.key);
  const haproxy = readObject(hs, ['socket', 'backend'], r);
  if (hs === undefined) return { haproxy: { socket: null, backend: null } };
  if (haproxy === undefined) return null;
  let ok = true;
  const socketSetting = sub(haproxy, 'socket', `${s.key}.haproxy`);
  const socket = readString(socketSetting, r);
  if (socketSetting !== undefined && (socket === undefined || socket.trim() === '')) {
    if (socket !== undefined) r.problem(socketSetting.key, "must be HAProxy's runtime API: a unix socket path or host:port, e.g. '/run/haproxy/admin.sock'");
    ok = false;
  }
  const backendSetting = sub(haproxy, 'backend', `${s.key}.haproxy`);
  let backend: string | Record<string, string> | null = null;
  if (backendSetting !== undefined) {
    const value = backendSetting.value;
    if (typeof value === 'string') {
      if (BACKEND_NAME.test(value)) backend = value;
      else {
        r.problem(backendSetting.key, `must be a backend name (letters, digits, '.', '_', ':', '-'); got ${show(value)}`);
        ok = false;
      }
    } else if (isRecord(value)) {
      backend = {};
      for (const [app, name] of Object.entries(value)) {
        if (typeof name === 'string' && BACKEND_NAME.test(name)) backend[app] = name;
        else {
          r.problem(`${backendSetting.key}.${app}`, `must be a backend name (letters, digits, '.', '_', ':', '-'); got ${show(name)}`);
          ok = false;
        }
      }
    } else {
      r.problem(backendSetting.key, `must be a backend name (the backend of every app) or an object { <app>: <backend> }; got ${show(value)}`);
      ok = false;
    }
  }
  return ok ? { haproxy: { socket: socket ?? null, backend } } : null;
}

/** The HAProxy backend of `app`: fleet.lb.haproxy.backend (for every app, or this one), else the app's name. */
export function haproxyBackend(lb: FleetLbSettings | undefined | null, app: string): string {
  const b = lb?.haproxy.backend ?? null;
  if (typeof b === 'string') return b;
  return (b !== null && Object.prototype.hasOwnProperty.call(b, app) ? b[app] : undefined) ?? app;
}

function readSecret(obj: Record<string, unknown>, at: string, baseDir: string, env: Readonly<Record<string, string>>, r: Report): string | null {
  const given = readString(sub(obj, 'secret', at), r);
  const fileSetting = sub(obj, 'secretFile', at);
  const fileName = readString(fileSetting, r);
  let secret: string | undefined = given;
  if (secret === undefined && fileName !== undefined) {
    const file = path.resolve(baseDir, fileName);
    try {
      secret = fs.readFileSync(file, 'utf8').trim();
    } catch (err) {
      r.problem(`${at}.secretFile`, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return null;
    }
  }
  secret ??= env.HERD_FLEET_SECRET;
  if (secret === undefined || secret === '') {
    r.problem(`${at}.secret`, 'is required (or secretFile, or env HERD_FLEET_SECRET): the key every host checks commands with; the same on every host');
    return null;
  }
  // The value itself is never shown.
  if (secret.length < MIN_SECRET) r.problem(given !== undefined ? `${at}.secret` : fileName !== undefined ? `${at}.secretFile` : 'HERD_FLEET_SECRET', `must be at least ${MIN_SECRET} characters`);
  return secret.length < MIN_SECRET ? null : secret;
}

/** The first non-internal IPv4 address of this machine, or null. */
export function firstIPv4(): string | null {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const a of addresses ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return null;
}

function safeUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

/** A URL as it may be shown: without its password. */
export function redacted(text: string): string {
  const url = safeUrl(text);
  // Not a URL (a password with '/', '?' or '#' breaks the parse): everything between '://' and the last '@' may be secret.
  if (url === null) return text.replace(/^([a-z]+:\/\/).*@/i, '$1***@');
  if (url.password !== '') url.password = '***';
  return url.toString();
}
