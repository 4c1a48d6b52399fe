/**
 * `herd chaos <app>`: kill the app's workers (and the daemon) at random
 * under probe traffic, then report availability and recovery. Everything the
 * run needs is checked first: a bad argument or an app that cannot be
 * probed exits 2 with nothing killed.
 */
import { HerdClient } from '../client/client';
import { readChaosOptions, type ChaosOptions } from '../chaos/options';
import { buildReport, reportText, type KillRecord } from '../chaos/report';
import { runChaos, type ChaosTarget } from '../chaos/run';
import { probeUrl } from '../chaos/target';
import { serviceOf } from '../startup/systemd';
import { formatDuration } from '../util/units';
import { usage } from './args';
import { EXIT, printJson } from './output';
import type { Command } from './session';

async function checkTarget(options: ChaosOptions, client: HerdClient): Promise<ChaosTarget> {
  const name = options.app;
  const apps = await client.request({ type: 'list' });
  const app = apps.find((a) => a.name === name);
  if (!app) throw usage(`chaos: no app named "${name}" (listed: ${apps.map((a) => a.name).join(', ') || 'none'})`);
  const detail = await client.request({ type: 'describe', name });
  if (detail.job) throw usage(`chaos: ${name} is a job (cron): it has no serving workers to kill`);
  if (app.status === 'stopped' || app.status === 'stopping') throw usage(`chaos: ${name} is ${app.status}: \`herd start ${name}\` first`);
  if (options.kill !== 'daemon' && app.workers.length === 0) throw usage(`chaos: ${name} has no workers to kill`);
  if (options.kill !== 'worker' && detail.shim === null) {
    throw usage(`chaos: --kill ${options.kill}: ${name} runs inside its supervisor's own process (herd run), which would die with it; ` +
      'daemon kills need the background daemon, whose apps run under shims that outlive it');
  }
  let url: string | null = null;
  if (options.probe) {
    url = options.url ?? probeUrl(detail.listening);
    if (url === null) {
      throw usage(`chaos: ${name} listens on no TCP port, so the probe has nothing to request; give --url, or --no-probe when you drive the load yourself`);
    }
  }
  const unit = serviceOf(client.daemon.pid);
  return { url, daemonUnit: unit !== null && /^herd-.+\.service$/.test(unit) && unit !== serviceOf('self') ? unit : null };
}

function describeRun(o: ChaosOptions, target: ChaosTarget): string {
  const what = o.kill === 'worker' ? 'a worker' : o.kill === 'daemon' ? 'the daemon' : 'a worker or the daemon';
  const how = o.signal === 'SIGSTOP' ? 'SIGSTOP (freeze) of' : 'kill -9 of';
  const probe = target.url === null ? 'no probe traffic' : `${o.connections} keep-alive probe connection(s) to ${target.url}, ${formatDuration(o.baselineMs)} baseline first`;
  const back = o.kill === 'worker' ? '' : target.daemonUnit === null
    ? '; a killed daemon is started again by this run, as the next herd command would'
    : `; a killed daemon is restarted by systemd (${target.daemonUnit})`;
  return `chaos on ${o.app}: ${how} ${what} about every ${formatDuration(o.everyMs)} for ${formatDuration(o.forMs)}; ${probe}${back}\n` +
    `seed ${o.seed} (--seed ${o.seed} repeats the same choices); Ctrl-C ends it early and still reports`;
}

function killLine(k: KillRecord): string {
  const how = k.signal === 'SIGSTOP' ? 'SIGSTOP' : 'kill -9';
  return `+${(k.at / 1000).toFixed(1)}s ${how} ${k.kind === 'daemon' ? 'daemon' : `worker ${k.worker}`} (pid ${k.pid})`;
}

export const chaos: Command = async (args) => {
  const options = readChaosOptions(args);
  const json = args.flags.json === true;
  if (!(await HerdClient.checkDaemon())) throw usage(`chaos: no app named "${options.app}" (no herd daemon runs for this HERD_HOME)`);
  const client = await HerdClient.connect();
  let target: ChaosTarget;
  try {
    target = await checkTarget(options, client);
  } catch (err) {
    client.close();
    throw err;
  }
  const say = (line: string) => {
    if (!json) process.stdout.write(`${line}\n`);
  };
  say(describeRun(options, target));
  const stop = new AbortController();
  const hurry = new AbortController();
  const onSigint = () => {
    if (!stop.signal.aborted) {
      stop.abort();
      process.stderr.write('herd: chaos: stopping; waiting for the last kills to recover (Ctrl-C again to skip)\n');
    } else hurry.abort();
  };
  process.on('SIGINT', onSigint);
  // Told to end (SIGTERM, a closed terminal): at once, with the report, and nothing left frozen (--signal STOP).
  const onEnd = () => {
    stop.abort();
    hurry.abort();
  };
  process.on('SIGTERM', onEnd);
  process.on('SIGHUP', onEnd);
  let record;
  try {
    record = await runChaos(options, client, target, {
      kill: (k) => say(killLine(k)),
      recovered: (k) => say(`  ${k.kind === 'daemon' ? 'daemon back, every app online' : `worker ${k.worker} back`} in ${k.recoveredMs} ms`),
      errored: (e) => say(`+${(e.at / 1000).toFixed(1)}s ${e.app} went errored: ${e.reason}`),
    }, stop.signal, hurry.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
    process.removeListener('SIGTERM', onEnd);
    process.removeListener('SIGHUP', onEnd);
  }
  const report = buildReport(record);
  if (json) printJson(report);
  else process.stdout.write(`${reportText(report)}\n`);
  return report.ok ? EXIT.ok : EXIT.failed;
};
