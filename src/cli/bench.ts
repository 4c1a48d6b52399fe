import * as fs from 'node:fs';
import * as path from 'node:path';
import { benchHtml } from '../bench/html';
import { BenchOptionError, defaultReportName, parseBenchOptions, type BenchOptions } from '../bench/options';
import { runBench, targetOf } from '../bench/run';
import { benchText } from '../bench/text';
import { HerdClient } from '../client/client';
import { HerdError } from '../errors';
import { writeFileAtomic } from '../util/atomicWrite';
import { stringFlag, usage } from './args';
import { EXIT, printJson } from './output';
import { one, type Command } from './session';

/**
 * `herd bench <app>`: load against the app's port with the engine's health
 * beside it; exit 1 when an --expect threshold fails. Loaded only by this
 * command (it brings autocannon).
 */
export const bench: Command = async (args) => {
  const name = one(args, 'app name');
  let opts: BenchOptions;
  try {
    opts = parseBenchOptions(name, {
      path: stringFlag(args, 'path'),
      connections: stringFlag(args, 'connections'),
      duration: stringFlag(args, 'duration'),
      rate: stringFlag(args, 'rate'),
      expect: stringFlag(args, 'expect'),
      report: stringFlag(args, 'report'),
      port: stringFlag(args, 'port'),
    });
  } catch (err) {
    if (err instanceof BenchOptionError) throw usage(`bench: ${err.message}`);
    throw err;
  }
  const report = path.resolve(opts.report ?? defaultReportName(name, new Date()));
  if (!fs.existsSync(path.dirname(report))) throw usage(`bench: --report ${opts.report ?? report}: the directory ${path.dirname(report)} does not exist`);
  if (!(await HerdClient.checkDaemon())) throw new HerdError('HERD_ERR_APP_NOT_FOUND', { name });

  const client = await HerdClient.connect();
  try {
    const detail = await client.request({ type: 'describe', name });
    const target = targetOf(detail.listening, opts.port);
    if ('error' in target) throw new HerdError('HERD_ERR_BENCH_TARGET', { name, reason: target.error }, ['`herd describe ' + name + '` shows where it listens']);
    const json = args.flags.json === true;
    if (!json) {
      process.stdout.write(`bench ${name}: ${opts.rate === null ? `${opts.connections} connections` : `${opts.rate}/s`} for ${opts.durationMs / 1000}s against port ${target.port}...\n`);
    }
    // The first Ctrl-C ends the load and still reports what ran; a second one quits at once.
    const abort = new AbortController();
    const onSigint = () => {
      if (abort.signal.aborted) process.exit(130);
      process.stderr.write('herd: bench: stopping (Ctrl-C again quits without a report)\n');
      abort.abort();
    };
    process.on('SIGINT', onSigint);
    let result;
    try {
      result = await runBench(opts, target, () => client.request({ type: 'metrics', name, worker: null }), abort.signal);
    } finally {
      process.off('SIGINT', onSigint);
    }
    try {
      await writeFileAtomic(report, benchHtml({ ...result, report }), 0o644);
      result.report = report;
    } catch (err) {
      process.stderr.write(`herd: bench: cannot write the report ${report}: ${(err as Error).message}\n`);
    }
    if (json) printJson(result);
    else process.stdout.write(`${benchText(result)}\n`);
    if (!result.valid && !json) process.stderr.write(`herd: bench: INVALID RUN: ${result.invalidReason ?? ''}\n`);
    return result.passed ? EXIT.ok : EXIT.failed;
  } finally {
    client.close();
  }
};
