/**
 * A host's summary as it sits in Redis: signed with the fleet secret like a
 * command, and checked field by field when read. Someone who can write to
 * Redis but has not the secret cannot forge or change what `herd fleet
 * status`, the dashboard, a rollout's `--settle` and `herd lb` see; and a
 * summary that checks still cannot put text of its choosing into a load
 * balancer's config (a host name, address, port or health path that is not
 * what one can be is refused, naming the field).
 */
import { isIP } from 'node:net';
import { sign, signatureOk } from './commands';
import type { HostSummary } from './types';

/** What `herd:fleet:host:<name>` holds: the summary's JSON text and its HMAC. */
interface Sealed {
  summary: string;
  sig: string;
}

export type OpenedSummary = { summary: HostSummary; problem: null } | { summary: null; problem: string };

export function sealSummary(summary: HostSummary, secret: string): string {
  const text = JSON.stringify(summary);
  return JSON.stringify({ summary: text, sig: sign(text, secret) } satisfies Sealed);
}

/** The summary under `name`'s key, or why it cannot be used. */
export function openSummary(text: string, name: string, secret: string): OpenedSummary {
  const refuse = (problem: string): OpenedSummary => ({ summary: null, problem });
  let sealed: Partial<Sealed>;
  try {
    sealed = JSON.parse(text) as Partial<Sealed>;
  } catch {
    return refuse('its summary is not JSON');
  }
  if (typeof sealed !== 'object' || sealed === null || typeof sealed.summary !== 'string') return refuse('its summary is not signed (written by an older herd, or not by herd)');
  if (!signatureOk(sealed.summary, sealed.sig, secret)) return refuse("its summary's signature does not check (not written with this fleet's secret)");
  let value: unknown;
  try {
    value = JSON.parse(sealed.summary);
  } catch {
    return refuse('its signed summary is not JSON');
  }
  const problem = summaryProblem(value, name);
  return problem === null ? { summary: value as HostSummary, problem: null } : refuse(`its summary is refused: ${problem}`);
}

/** The host name rule of `fleet.host` (src/config/fleet.ts). */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
/** A DNS name a load balancer can resolve. */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
/** An HTTP path without spaces, quotes or what ends a config statement. */
const HEALTH_PATH = /^\/[A-Za-z0-9._~!$&'()*+,=:@%/?-]{0,1023}$/;

const isPort = (v: unknown) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= 65535;
const isCount = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
const isFigure = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isText = (v: unknown, max = 256) => typeof v === 'string' && v.length <= max && !/[\u0000-\u001f\u007f]/.test(v);
const isAddress = (v: unknown) => typeof v === 'string' && (isIP(v) !== 0 || DNS_NAME.test(v));

/** What is wrong with a summary read under `name`'s key, naming the field; null when it can be used. */
export function summaryProblem(value: unknown, name: string): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'it is not an object';
  const s = value as Record<string, unknown>;
  if (s.name !== name) return `name is ${JSON.stringify(s.name)}, but it is registered as ${JSON.stringify(name)}`;
  if (!HOST_NAME.test(name)) return `name ${JSON.stringify(name)} is not a host name`;
  if (!isAddress(s.address)) return `address ${JSON.stringify(s.address)} is not an IP address or host name`;
  if (!isText(s.version, 64)) return 'version must be a short string';
  if (!isCount(s.pid) || !isCount(s.at)) return 'pid and at must be whole numbers';
  if (s.health !== null) {
    const h = s.health as Record<string, unknown> | undefined;
    if (typeof h !== 'object' || h === null || !isAddress(h.host) || !isPort(h.port)) return 'health must be null or { host, port } with an address and a port';
  }
  if (!Array.isArray(s.apps)) return 'apps must be an array';
  for (const [i, a] of (s.apps as unknown[]).entries()) {
    const at = `apps[${i}]`;
    if (typeof a !== 'object' || a === null) return `${at} is not an object`;
    const app = a as Record<string, unknown>;
    if (!isText(app.name) || app.name === '') return `${at}.name must be an app name`;
    for (const key of ['status', 'revision', 'disk'] as const) if (!isText(app[key], 128)) return `${at}.${key} must be a short string`;
    for (const key of ['workers', 'online'] as const) if (!isCount(app[key])) return `${at}.${key} must be a whole number`;
    for (const key of ['rps', 'p99', 'errorRate', 'cpu', 'memory'] as const) if (!isFigure(app[key])) return `${at}.${key} must be a number >= 0`;
    if (!Array.isArray(app.ports) || !app.ports.every(isPort)) return `${at}.ports must be TCP ports`;
    if (app.healthPath !== null && !(typeof app.healthPath === 'string' && HEALTH_PATH.test(app.healthPath))) return `${at}.healthPath must be null or a path like /healthz`;
    const l = app.latency as Record<string, unknown> | null;
    if (typeof l !== 'object' || l === null || !Array.isArray(l.b) || !l.b.every(isFigure) || !isCount(l.n) || !isFigure(l.sum) || !isFigure(l.max)) return `${at}.latency must be a histogram ({ b, n, sum, max })`;
  }
  return null;
}
