/**
 * Fleet commands and their replies as they travel through Redis: each is a
 * JSON text with an HMAC-SHA256 of exactly that text, keyed with the fleet
 * secret. A host acts only on a command whose signature checks, that names
 * it, whose time is inside a short window of its own clock, that it has not
 * seen before, with a verb it knows, for an app it runs. So Redis alone,
 * without the secret, cannot make a host do anything; at worst it can drop
 * or delay commands, which the sender sees as a host that does not answer.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

const PREFIX = 'herd:fleet:';
/** A host's command stream: XADD by senders, read by the host in the consumer group below. */
export const commandStream = (host: string) => `${PREFIX}cmd:${host}`;
/** The replies to one command: progress lines and its result, from every host it went to. */
export const replyStream = (id: string) => `${PREFIX}reply:${id}`;
/** Set when a host takes a command: the same id is never run twice, even by a daemon started since. */
export const doneKey = (host: string, id: string) => `${PREFIX}done:${host}:${id}`;
export const COMMAND_GROUP = 'herd';
/** What a sender sets the done key to when a host did not take its command in time: the host then never runs it. */
export const WITHDRAWN = 'withdrawn by ';

/** A command older or newer than this, by the host's clock, is refused: a replay later cannot work. */
export const COMMAND_WINDOW_MS = 30_000;

export const FLEET_VERBS = ['reload', 'restart', 'stop', 'start', 'scale', 'revision'] as const;
export type FleetVerb = (typeof FLEET_VERBS)[number];

export interface FleetCommand {
  /** Random, also names the reply stream. */
  id: string;
  /** `<host>:<pid>` of the daemon that sent it (the CLI's host). */
  sender: string;
  /** The host it is for. */
  host: string;
  /** Epoch ms, by the sender's clock. */
  at: number;
  verb: FleetVerb;
  app: string;
  /** `scale`: the count as `herd scale` takes it (`4`, `+1`, `max`). */
  count?: string;
}

export type ReplyKind = 'accepted' | 'progress' | 'result';

export interface FleetReply {
  id: string;
  host: string;
  at: number;
  kind: ReplyKind;
  /** `progress`: the line; `result`: why it failed. */
  message?: string;
  /** `result` only. */
  ok?: boolean;
  /** `result` with ok: what the verb answered (its names, the revision). */
  result?: unknown;
  /** `result`: the error code when it failed (HERD_ERR_...), or `refused` when the host refused the command itself. */
  code?: string;
}

const ID = /^[A-Za-z0-9-]{8,64}$/;

export function newCommandId(): string {
  return randomUUID();
}

export function isCommandId(id: unknown): id is string {
  return typeof id === 'string' && ID.test(id);
}

export function sign(text: string, secret: string): string {
  return createHmac('sha256', secret).update(text).digest('hex');
}

/** The fields of a stream entry: the text and its signature. */
export function signed(value: FleetCommand | FleetReply, secret: string): [string, string, string, string] {
  const text = JSON.stringify(value);
  return ['c', text, 's', sign(text, secret)];
}

/** A stream entry's fields (`[name, value, name, value, ...]` as Redis returns them) as a map. */
export function entryFields(flat: readonly string[]): Map<string, string> {
  const fields = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
  return fields;
}

export function signatureOk(text: string, signature: string | undefined, secret: string): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return false;
  return timingSafeEqual(Buffer.from(sign(text, secret), 'hex'), Buffer.from(signature, 'hex'));
}

export type Checked<T> = { ok: true; value: T } | { ok: false; reason: string; id: string | null; what: string; signed: boolean };

export interface CommandCheck {
  secret: string;
  /** This host's name. */
  host: string;
  now: number;
  /** Ids this host took already (kept for twice the window). */
  seen: (id: string) => boolean;
  /** Whether this host runs (lists) the app. */
  runs: (app: string) => boolean;
}

/**
 * Why a command entry must not run, or the command. What a refused entry
 * says of itself (id, verb, app, sender) is unchecked and only shown.
 */
export function checkCommand(fields: Map<string, string>, c: CommandCheck): Checked<FleetCommand> {
  const text = fields.get('c');
  const unchecked = parseObject(text);
  const id = isCommandId(unchecked?.id) ? unchecked.id : null;
  const what = describeUnchecked(unchecked);
  let signed = false;
  const refuse = (reason: string): Checked<FleetCommand> => ({ ok: false, reason, id, what, signed });
  if (text === undefined || unchecked === null) return refuse('not a herd command');
  if (!signatureOk(text, fields.get('s'), c.secret)) return refuse('bad signature (not signed with this fleet\'s secret)');
  signed = true;
  const cmd = unchecked as Partial<FleetCommand>;
  if (id === null || typeof cmd.sender !== 'string' || typeof cmd.app !== 'string' || typeof cmd.at !== 'number' || typeof cmd.verb !== 'string') return refuse('malformed');
  if (cmd.host !== c.host) return refuse(`it is for host ${JSON.stringify(cmd.host)}`);
  const skew = c.now - cmd.at;
  if (Math.abs(skew) > COMMAND_WINDOW_MS) return refuse(`its time is ${Math.round(skew / 1000)} s from this host's clock (the window is ${COMMAND_WINDOW_MS / 1000} s)`);
  if (c.seen(id)) return refuse('replayed (this id was taken already)');
  if (!(FLEET_VERBS as readonly string[]).includes(cmd.verb)) return refuse(`unknown verb ${JSON.stringify(cmd.verb)}`);
  if (cmd.verb === 'scale' && typeof cmd.count !== 'string') return refuse('scale without a count');
  if (!c.runs(cmd.app)) return refuse(`this host runs no app ${JSON.stringify(cmd.app)}`);
  return { ok: true, value: cmd as FleetCommand };
}

/** A reply entry whose signature checks, for the command `id`; null for anything else (not trusted, not shown). */
export function checkReply(fields: Map<string, string>, secret: string, id: string): FleetReply | null {
  const text = fields.get('c');
  if (text === undefined || !signatureOk(text, fields.get('s'), secret)) return null;
  const reply = parseObject(text) as Partial<FleetReply> | null;
  if (reply === null || reply.id !== id || typeof reply.host !== 'string' || !['accepted', 'progress', 'result'].includes(reply.kind as string)) return null;
  return reply as FleetReply;
}

function parseObject(text: string | undefined): Record<string, unknown> | null {
  if (text === undefined) return null;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** `reload api from web-1:123`, from what an entry says of itself, quoted and cut short: it may be anything. */
function describeUnchecked(v: Record<string, unknown> | null): string {
  if (v === null) return 'an entry';
  const part = (x: unknown) => (typeof x === 'string' ? JSON.stringify(x.slice(0, 64)) : '?');
  return `${part(v.verb)} ${part(v.app)} from ${part(v.sender)}`;
}
