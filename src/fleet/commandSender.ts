/**
 * The sending side of fleet commands: one signed command per host on that
 * host's stream, then the replies read back as they come (each host's
 * progress lines and its result). A host that does not take its command
 * within a few seconds, that goes down while running it, or that runs out
 * of time, has that as its outcome; the others go on.
 */
import type Redis from 'ioredis';
import { checkReply, COMMAND_WINDOW_MS, commandStream, doneKey, entryFields, newCommandId, replyStream, signed, WITHDRAWN, type FleetCommand, type FleetVerb } from './commands';

export interface HostOutcome {
  host: string;
  ok: boolean;
  /** Why it failed. */
  message: string | null;
  /** HERD_ERR_... of a failure the host reported, `refused`, or `unanswered`/`down`/`timeout` when it did not report. */
  code: string | null;
  /** What the verb answered on the host. */
  result: unknown;
  ms: number;
}

export interface SendOptions {
  secret: string;
  /** `<host>:<pid>` of this daemon. */
  sender: string;
  verb: FleetVerb;
  app: string;
  count?: string;
  /** A host that has not said it took the command after this long did not get it. */
  acceptMs?: number;
  timeoutMs: number;
  /** Whether a host's registration still lives (it is up). */
  alive: (host: string) => Promise<boolean>;
  progress: (host: string, line: string) => void;
}

type ReadReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

const COMMAND_MAXLEN = 1000;
const ACCEPT_MS = 5000;

export async function sendCommand(redis: Redis, hosts: readonly string[], o: SendOptions): Promise<HostOutcome[]> {
  const started = Date.now();
  const pending = new Map<string, { host: string; id: string; last: string; accepted: boolean }>();
  const outcomes = new Map<string, HostOutcome>();
  const finish = (host: string, o2: Omit<HostOutcome, 'host' | 'ms'>) => {
    for (const [id, p] of pending) if (p.host === host) pending.delete(id);
    if (!outcomes.has(host)) outcomes.set(host, { host, ms: Date.now() - started, ...o2 });
  };
  // Its own connection: XREAD BLOCK holds it.
  const reader = redis.duplicate({ commandTimeout: 5000, connectionName: `${o.sender}:replies` });
  reader.on('error', () => undefined);
  try {
    await reader.connect().catch((err: Error) => {
      throw new Error(`Redis cannot be reached to send the command: ${err.message}`);
    });
    for (const host of hosts) {
      const command: FleetCommand = { id: newCommandId(), sender: o.sender, host, at: Date.now(), verb: o.verb, app: o.app, ...(o.count !== undefined ? { count: o.count } : {}) };
      try {
        await redis.xadd(commandStream(host), 'MAXLEN', '~', String(COMMAND_MAXLEN), '*', ...signed(command, o.secret));
        pending.set(command.id, { host, id: command.id, last: '0', accepted: false });
      } catch (err) {
        finish(host, { ok: false, code: 'unanswered', message: `the command could not be sent to ${host}: ${(err as Error).message}`, result: null });
      }
    }
    const acceptBy = Date.now() + (o.acceptMs ?? ACCEPT_MS);
    const deadline = Date.now() + o.timeoutMs;
    let checkedAlive = Date.now();
    while (pending.size > 0) {
      const waiting = [...pending.values()];
      let answer: ReadReply = null;
      try {
        answer = (await reader.xread('COUNT', 100, 'BLOCK', 1000, 'STREAMS', ...waiting.map((p) => replyStream(p.id)), ...waiting.map((p) => p.last))) as ReadReply;
      } catch {
        // Redis away for a moment: the deadlines below still hold.
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      for (const [key, entries] of answer ?? []) {
        const p = waiting.find((w) => replyStream(w.id) === key);
        if (!p) continue;
        for (const [entryId, flat] of entries) {
          p.last = entryId;
          const reply = checkReply(entryFields(flat), o.secret, p.id);
          // Unsigned or for another command: not from a host of this fleet; not shown.
          if (reply === null || reply.host !== p.host) continue;
          if (reply.kind === 'accepted') p.accepted = true;
          else if (reply.kind === 'progress' && reply.message) o.progress(p.host, reply.message);
          else if (reply.kind === 'result') {
            finish(p.host, { ok: reply.ok === true, code: reply.ok === true ? null : reply.code ?? 'failed', message: reply.ok === true ? null : reply.message ?? 'failed', result: reply.result ?? null });
          }
        }
      }
      const now = Date.now();
      for (const p of [...pending.values()]) {
        if (!p.accepted && now > acceptBy) {
          // Withdrawn through the key the host takes it with, so "did not take it" stays true: whichever
          // SET NX comes first wins, and a host that comes to it later (busy with a long command) refuses it.
          const within = `${p.host} did not take the command within ${Math.round((o.acceptMs ?? ACCEPT_MS) / 1000)} s (its daemon is down, busy with another command, or cannot reach Redis)`;
          let withdrawn: string | null | Error;
          try {
            withdrawn = await redis.set(doneKey(p.host, p.id), `${WITHDRAWN}${o.sender}`, 'PX', 2 * COMMAND_WINDOW_MS, 'NX');
          } catch (err) {
            withdrawn = err as Error;
          }
          if (withdrawn === 'OK') finish(p.host, { ok: false, code: 'unanswered', message: `${within}; it was withdrawn and will not run`, result: null });
          else if (withdrawn instanceof Error) finish(p.host, { ok: false, code: 'unanswered', message: `${within}; it could not be withdrawn (${withdrawn.message}), so it may still run`, result: null });
          // The host took it just now: its answer is on the way.
          else p.accepted = true;
        } else if (now > deadline) {
          finish(p.host, { ok: false, code: 'timeout', message: `${p.host} did not finish within ${Math.round(o.timeoutMs / 1000)} s`, result: null });
        }
      }
      if (pending.size > 0 && now - checkedAlive >= 1000) {
        checkedAlive = now;
        for (const p of [...pending.values()]) {
          if (!(await o.alive(p.host).catch(() => true))) finish(p.host, { ok: false, code: 'down', message: `${p.host} went down while running the command (its registration expired)`, result: null });
        }
      }
    }
  } finally {
    reader.disconnect();
  }
  return hosts.map((h) => outcomes.get(h) as HostOutcome);
}
