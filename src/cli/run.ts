import { Daemon } from '../daemon/daemon';
import { StdoutLogSink } from '../logs/logSink';
import { herdPaths, resolveHome } from '../util/paths';
import type { ParsedArgs } from './args';
import { EXIT, printError, printWarnings } from './output';
import { watchAsInit } from './pidOne';
import { specsFromArgs } from './specs';

/**
 * `herd run`: the supervisor in the foreground, for containers and systemd.
 * It also serves the control socket, so `herd list` and `herd reload` work
 * from another shell. Resolves with the exit code once every app drained.
 */
export async function runForeground(target: string, args: ParsedArgs): Promise<number> {
  const { specs, warnings, settings } = await specsFromArgs(target, args);
  printWarnings(warnings);
  keepRunningWithoutStderr();
  const note = (message: string) => {
    if (!process.stderr.destroyed) process.stderr.write(`herd: ${message}\n`);
  };
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const daemon = new Daemon(herdPaths(resolveHome()), new StdoutLogSink(), () => finish(EXIT.ok));
  await daemon.listen();
  const stopWatch = watchAsInit(note);
  void finished.then(stopWatch);
  try {
    await daemon.configureHealth(settings?.health);
  } catch (err) {
    await daemon.shutdown();
    throw err;
  }
  await daemon.configure(settings).then(
    (served) => {
      if (served.prometheus) note(`prometheus metrics at ${served.prometheus}`);
      if (served.dashboard) note(`dashboard at ${served.dashboard}`);
    },
    (err: unknown) => printError(err, false),
  );

  const drain = (signal: string) => {
    note(`${signal}: draining every app`);
    void daemon.shutdown().then(() => finish(EXIT.ok));
  };
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('SIGINT', () => drain('SIGINT'));
  process.on('SIGHUP', () => {
    note('SIGHUP: rolling reload');
    void specsFromArgs(target, args)
      .then(async ({ specs: fresh, settings: fresher }) => {
        await daemon.configure(fresher).catch((err: unknown) => printError(err, false));
        await daemon.supervisor.reload('all', fresh, note);
      })
      .then(() => note('reload done'), (err: unknown) => printError(err, false));
  });

  try {
    const { started } = await daemon.supervisor.start(specs);
    note(`running ${started.join(', ')} (pid ${process.pid}); SIGTERM or Ctrl-C drains and exits, SIGHUP reloads`);
  } catch (err) {
    // An app that fails at start keeps retrying after its cool-down; say why now.
    printError(err, false);
  }
  return finished;
}

/**
 * The supervisor's notes, warnings and errors go to stderr; once that is
 * gone (its terminal closed, `2>&1 | tee` ended by Ctrl-C) they are lost,
 * but an EPIPE must not become an uncaught exception that takes every app
 * down with the supervisor. Worker lines on stdout are the log sink's
 * business (StdoutLogSink counts what it cannot write).
 */
function keepRunningWithoutStderr(): void {
  process.stderr.on('error', () => {});
}
