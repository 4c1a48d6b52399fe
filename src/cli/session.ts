import { HerdError } from '../errors';
import { HerdClient } from '../client/client';
import type { AppDetail } from '../protocol/control';
import { usage, type ParsedArgs } from './args';

/** One CLI verb: resolves with the exit code. */
export type Command = (args: ParsedArgs) => Promise<number>;

/** The single positional a command takes. */
export function one(args: ParsedArgs, what: string): string {
  const [value, extra] = args.positionals;
  if (value === undefined) throw usage(`${args.command}: missing ${what}`);
  if (extra !== undefined) throw usage(`${args.command}: unexpected argument "${extra}"`);
  return value;
}

export function none(args: ParsedArgs): void {
  if (args.positionals.length > 0) throw usage(`${args.command}: unexpected argument "${args.positionals[0]}"`);
}

export const progressPrinter = (args: ParsedArgs) => (message: string) => {
  if (args.flags.json !== true) process.stdout.write(`${message}\n`);
};

/** The daemon closed the connection before it answered hello: a daemon that has just handed over, exiting. */
function closedAtHello(err: HerdError): boolean {
  return err.code === 'HERD_ERR_DAEMON_UNREACHABLE' && /closed the connection/.test(err.message);
}

/** How long a command refused because the daemon is being replaced (`herd update`) keeps trying. */
const UPDATING_RETRY_MS = 10_000;

export async function withClient<T>(fn: (client: HerdClient) => Promise<T>, autoStart = false, anyVersion = false): Promise<T> {
  const deadline = Date.now() + UPDATING_RETRY_MS;
  for (;;) {
    let client: HerdClient;
    try {
      client = await HerdClient.connect({ autoStart, anyVersion });
    } catch (err) {
      // Refused at hello by a daemon handing over to a new one, or cut by its exit: the new one answers.
      if (!(err instanceof HerdError && (err.code === 'HERD_ERR_UPDATING' || closedAtHello(err))) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
      continue;
    }
    try {
      return await fn(client);
    } catch (err) {
      // Refused before it ran, by a daemon handing over to a new one: the new one answers the same command.
      if (!(err instanceof HerdError && err.code === 'HERD_ERR_UPDATING') || Date.now() > deadline) throw err;
    } finally {
      client.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Every listed app in detail; none when no daemon runs (a read never starts one). */
export async function listedDetails(): Promise<AppDetail[]> {
  if (!(await HerdClient.checkDaemon())) return [];
  return withClient(async (client) => {
    const details: AppDetail[] = [];
    for (const app of await client.request({ type: 'list' })) details.push(await client.request({ type: 'describe', name: app.name }));
    return details;
  });
}
