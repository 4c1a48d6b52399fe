/**
 * This host's side of fleet commands: reads its own stream in a consumer
 * group (one consumer, the host), checks each entry, runs it, and writes
 * progress and the result to the command's reply stream. An entry is
 * acknowledged once handled; one delivered to a daemon that died before
 * acknowledging it is read again by the next, which runs it only if no
 * daemon took it yet (the `done` key): a command runs at most once.
 *
 * Commands run one after another, in the order they were sent.
 */
import type Redis from 'ioredis';
import { HerdError } from '../errors';
import {
  checkCommand, COMMAND_GROUP, WITHDRAWN, COMMAND_WINDOW_MS, commandStream, doneKey, entryFields, replyStream, signed,
  type FleetCommand, type FleetReply,
} from './commands';

export interface CommandExecutor {
  /** Whether this host lists the app (a command for any other is refused). */
  runs(app: string): boolean;
  /** Runs the verb; what it resolves with is the result the sender sees. */
  execute(command: FleetCommand, progress: (line: string) => void): Promise<unknown>;
}

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

/** How long reply streams stay in Redis for a sender that reads late. */
const REPLY_TTL_S = 600;
const REPLY_MAXLEN = 1000;

export class CommandReader {
  private readonly blocking: Redis;
  /** Ids taken, with when they may be forgotten (their time is then outside the window anyway). */
  private readonly seen = new Map<string, number>();
  private closed = false;
  private readonly done: Promise<void>;

  constructor(
    private readonly redis: Redis,
    private readonly host: string,
    private readonly secret: string,
    private readonly executor: CommandExecutor,
    private readonly note: (line: string) => void,
  ) {
    // XREADGROUP BLOCK holds its connection: the heartbeat and replies go on the other one.
    this.blocking = redis.duplicate({ commandTimeout: 5000, connectionName: `herd:${host}:commands` });
    this.blocking.on('error', () => undefined); // the member says when Redis is away
    this.blocking.connect().catch(() => undefined);
    this.done = this.loop();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.blocking.disconnect();
    await this.done;
  }

  private async loop(): Promise<void> {
    const key = commandStream(this.host);
    let grouped = false;
    // First what was delivered to this consumer and never acknowledged (a daemon that died), then new entries.
    let backlog = true;
    while (!this.closed) {
      try {
        if (this.blocking.status !== 'ready') {
          await this.ready();
          grouped = false;
          continue;
        }
        if (!grouped) {
          // From now on: a command sent while no daemon read is still seen, one from before the group is not.
          await this.blocking.xgroup('CREATE', key, COMMAND_GROUP, '$', 'MKSTREAM').catch((err: Error) => {
            if (!/BUSYGROUP/.test(err.message)) throw err;
          });
          grouped = true;
          backlog = true;
        }
        const answer = (await this.blocking.xreadgroup('GROUP', COMMAND_GROUP, this.host, 'COUNT', 10, 'BLOCK', 1000, 'STREAMS', key, backlog ? '0' : '>')) as StreamReply;
        const entries = answer?.[0]?.[1] ?? [];
        if (backlog && entries.length === 0) backlog = false;
        for (const [entryId, flat] of entries) {
          if (this.closed) return;
          await this.handle(flat);
          await this.blocking.xack(key, COMMAND_GROUP, entryId);
        }
      } catch (err) {
        if (this.closed) return;
        // Redis restarted empty: the stream and its group are gone; made again on the next turn.
        if (/NOGROUP/.test((err as Error).message)) grouped = false;
        await new Promise((resolve) => setTimeout(resolve, 500).unref());
      }
    }
  }

  private ready(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.blocking.removeListener('ready', done);
        resolve();
      };
      const timer = setTimeout(done, 1000);
      timer.unref();
      this.blocking.once('ready', done);
    });
  }

  private async handle(flat: string[]): Promise<void> {
    const now = Date.now();
    for (const [id, until] of this.seen) if (until < now) this.seen.delete(id);
    const checked = checkCommand(entryFields(flat), {
      secret: this.secret,
      host: this.host,
      now,
      seen: (id) => this.seen.has(id),
      runs: (app) => this.executor.runs(app),
    });
    // An entry whose signature does not check gets no answer: a signed "refused" under an id it claims would let
    // anyone put a false result before a real command's (the sender could not check a reply under another secret anyway).
    if (!checked.ok) return this.refuse(checked.id, checked.what, checked.reason, checked.signed);
    const command = checked.value;
    // Taken once across daemons too: one started since (or after `herd update`) finds the key. Seen once that is known.
    const first = await this.redis.set(doneKey(this.host, command.id), String(process.pid), 'PX', 2 * COMMAND_WINDOW_MS, 'NX');
    this.seen.set(command.id, now + 2 * COMMAND_WINDOW_MS);
    if (first === null) {
      const holder = await this.redis.get(doneKey(this.host, command.id)).catch(() => null);
      const why = holder?.startsWith(WITHDRAWN) ? `${holder} (it waited too long to be taken)` : 'replayed (this id was taken already)';
      return this.refuse(command.id, describe(command), why, !holder?.startsWith(WITHDRAWN));
    }
    this.note(`fleet: ${describe(command)} (command ${command.id})`);
    await this.reply(command.id, { kind: 'accepted' });
    try {
      const result = await this.executor.execute(command, (line) => void this.reply(command.id, { kind: 'progress', message: line }));
      await this.reply(command.id, { kind: 'result', ok: true, result });
    } catch (err) {
      const code = err instanceof HerdError ? err.code : undefined;
      this.note(`fleet: ${describe(command)} (command ${command.id}) failed: ${(err as Error).message}`);
      await this.reply(command.id, { kind: 'result', ok: false, message: (err as Error).message, ...(code ? { code } : {}) });
    }
  }

  /** Logged, and answered when the entry was signed and names a usable id (a replay, another app); nothing else happens. */
  private async refuse(id: string | null, what: string, reason: string, answer = true): Promise<void> {
    this.note(`fleet: refused ${what} (command ${id ?? 'without an id'}): ${reason}`);
    if (id !== null && answer) await this.reply(id, { kind: 'result', ok: false, code: 'refused', message: `refused by ${this.host}: ${reason}` });
  }

  private async reply(id: string, part: Omit<FleetReply, 'id' | 'host' | 'at'>): Promise<void> {
    const reply: FleetReply = { id, host: this.host, at: Date.now(), ...part };
    try {
      await this.redis.multi()
        .xadd(replyStream(id), 'MAXLEN', '~', String(REPLY_MAXLEN), '*', ...signed(reply, this.secret))
        .expire(replyStream(id), REPLY_TTL_S)
        .exec();
    } catch {
      // Redis went away meanwhile: the command still runs here; the sender reports the host silent.
    }
  }
}

function describe(c: FleetCommand): string {
  return `${c.verb} ${c.app}${c.count !== undefined ? ` ${c.count}` : ''} from ${c.sender}`;
}
