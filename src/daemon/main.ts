import * as fs from 'node:fs';
import { toErrorData } from '../errors';
import { herdPaths, resolveHome } from '../util/paths';
import { Daemon } from './daemon';
import { ShimHosts } from './hosts/shimHosts';
import { receiveHandover, reportTakeover, TAKEOVER_FLAG } from './handover';
import { inheritListening } from './http/listen';
import { HERD_VERSION } from '../protocol/version';

/**
 * Entry of the background daemon. The CLI that spawned it waits on fd 3 for
 * one line: "ready" or the reason it could not start.
 */
function report(line: string): void {
  try {
    fs.writeSync(3, `${line}\n`);
    fs.closeSync(3);
  } catch {
    // started by hand, without the readiness pipe
  }
}

async function main(): Promise<void> {
  const paths = herdPaths(resolveHome());
  // Each app's shim writes its log files: the daemon is off the log path.
  const logs = new ShimHosts(paths);
  const daemon = new Daemon(paths, logs, () => {
    void logs.close().finally(() => process.exit(0));
  }, { keepState: true, hosts: (app) => logs.host(app), shims: logs });
  try {
    if (process.argv.includes(TAKEOVER_FLAG)) await takeOver(daemon);
    else await daemon.listen();
  } catch (err) {
    // Said in the daemon's own log too: a daemon started by systemd or by hand has no CLI waiting on fd 3.
    console.error(`${new Date().toISOString()} daemon: could not start: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    report(`error ${JSON.stringify(toErrorData(err))}`);
    await reportTakeover({ error: err });
    // A control socket already bound would keep a daemon that failed to start alive, serving half an adoption.
    process.exit(1);
  }
  const stop = (signal: string) => {
    console.log(`${new Date().toISOString()} daemon: ${signal}, stopping every app`);
    void daemon.shutdown(signal).then(() => logs.close()).finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // The daemon outlives any terminal; a hangup must not kill it.
  process.on('SIGHUP', () => {});
  process.on('uncaughtException', (err) => {
    // Keep supervising: one bad code path must not orphan every worker.
    console.error(`${new Date().toISOString()} daemon: uncaught exception`, err);
  });
  console.log(`${new Date().toISOString()} daemon: pid ${process.pid} listening on ${paths.socket}`);
  report('ready');
}

/**
 * `herd update`: this daemon takes over from the running one, its parent:
 * it serves on the sockets handed over, adopts every app, applies the
 * settings (the endpoints take their handed-over sockets), and says ready
 * over the IPC channel, which it then cuts.
 */
async function takeOver(daemon: Daemon): Promise<void> {
  const handover = await receiveHandover();
  for (const e of handover.endpoints) inheritListening(e.at, e.server);
  await daemon.listen(handover);
  await daemon.configureHealth(handover.settings.health);
  await daemon.configure(handover.settings);
  console.log(`${new Date().toISOString()} daemon: took over from daemon pid ${handover.from.pid} (herd ${handover.from.version})`);
  await reportTakeover({ pid: process.pid, version: HERD_VERSION });
}

void main();
