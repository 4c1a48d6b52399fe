/**
 * Entry of an app's shim (`herd-shim <app>`): the long-lived parent of the
 * app's workers, started by the daemon. argv: the app's name, the shim's id
 * (run/<id>.sock, run/<id>.json). It reports "ready" (or the reason it
 * could not start) on fd 3, as the daemon does to the CLI.
 *
 * Every module is imported here, at start, and nothing is required later:
 * an update may replace herd's files on disk while this process runs on
 * with the code it loaded.
 */
import * as fs from 'node:fs';
import { HerdError, toErrorData } from '../errors';
import { FileLogSink } from '../logs/logSink';
import { SHIM_PROTOCOL_VERSION } from '../protocol/shim';
import { HERD_VERSION } from '../protocol/version';
import { herdPaths, resolveHome } from '../util/paths';
import { procStat } from '../util/procStat';
import { AppHost } from './appHost';
import { LinkServer } from './linkServer';
import { newToken, removeRecord, socketPath, socketPathProblem, writeRecord } from './runRecord';

function report(line: string): void {
  try {
    fs.writeSync(3, `${line}\n`);
    fs.closeSync(3);
  } catch {
    // started by hand, without the readiness pipe
  }
}

async function main(): Promise<void> {
  const [app, id] = process.argv.slice(2);
  if (!app || !id || !/^[0-9a-f]{8}$/.test(id)) {
    report(`error ${JSON.stringify(toErrorData(new HerdError('HERD_ERR_SHIM_START', { name: app ?? '?', reason: 'usage: shim/main.js <app> <8 hex id>' })))}`);
    process.exitCode = 2;
    return;
  }
  process.title = `herd-shim ${app}`;
  const say = (message: string) => console.error(`${new Date().toISOString()} shim ${app} (pid ${process.pid}): ${message}`);
  // stdout and stderr are daemon.log (a file): a write never fails for want of a reader.
  process.on('SIGHUP', () => {});
  process.on('SIGINT', () => {});
  process.on('uncaughtException', (err) => {
    // Keep serving: one bad code path must not take the app's workers down.
    say(`uncaught exception: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  });

  const paths = herdPaths(resolveHome());
  const socket = socketPath(paths.run, id);
  const token = newToken();
  const logs = new FileLogSink(paths.logs, (message) => say(message));
  const link = new LinkServer(socket, token, say);
  let ending: Promise<void> | null = null;
  const end = (why: string): Promise<void> => {
    ending ??= (async () => {
      say(`${why}; stopping`);
      await host.stopAll();
      link.close();
      removeRecord(paths.run, id);
      await logs.close();
      process.exit(0);
    })();
    return ending;
  };
  const host = new AppHost(app, link, logs);
  try {
    const problem = socketPathProblem(socket);
    if (problem) throw new HerdError('HERD_ERR_SHIM_START', { name: app, reason: problem });
    await link.listen();
    const stat = procStat(process.pid);
    writeRecord(paths.run, {
      id, app, pid: process.pid, startTime: stat?.startTime ?? '', token,
      version: HERD_VERSION, protocol: SHIM_PROTOCOL_VERSION, socket, startedAt: Date.now(),
    });
  } catch (err) {
    link.close();
    removeRecord(paths.run, id);
    report(`error ${JSON.stringify(toErrorData(err))}`);
    process.exitCode = 1;
    return;
  }
  process.on('SIGTERM', () => void end('SIGTERM'));
  // The daemon said `exit`: the app is stopped or deleted.
  void host.whenClosed().then(() => end('the app is stopped'));
  say(`serving ${socket}`);
  report('ready');
}

void main();
