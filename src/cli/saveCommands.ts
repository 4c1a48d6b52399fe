/**
 * `herd save` (PM2's `save` and `dump`) and `herd resurrect`: the dump in
 * HERD_HOME that brings the apps back after a reboot.
 */
import { listTable } from './format';
import { EXIT, printJson } from './output';
import { none, progressPrinter, withClient, type Command } from './session';

export const save: Command = async (args) => {
  none(args);
  const result = await withClient((c) => c.request({ type: 'save', force: args.flags.force === true }), true);
  if (args.flags.json === true) {
    printJson(result);
    return EXIT.ok;
  }
  const stopped = result.stopped.length > 0 ? `; stopped, and kept stopped by herd resurrect: ${result.stopped.join(', ')}` : '';
  process.stdout.write(result.saved.length === 0
    ? `saved an empty list to ${result.file}\n`
    : `saved ${result.saved.length} app(s) to ${result.file}: ${result.saved.join(', ')}${stopped}\n`);
  return EXIT.ok;
};

export const resurrect: Command = async (args) => {
  none(args);
  const json = args.flags.json === true;
  return withClient(async (client) => {
    const result = await client.request({ type: 'resurrect' }, progressPrinter(args));
    if (json) {
      printJson(result);
      return EXIT.ok;
    }
    const out = (line: string) => process.stdout.write(`${line}\n`);
    for (const name of result.started) out(`started ${name}`);
    for (const name of result.skipped) out(`${name} is already running: left as it is`);
    if (result.stopped.length > 0) out(`stopped on purpose, left stopped: ${result.stopped.join(', ')} (herd start <name> starts one)`);
    if (result.left.length > 0) out(`not in ${result.file}, still not running: ${result.left.join(', ')} (herd start <name> starts one)`);
    const names = new Set([...result.started, ...result.skipped, ...result.stopped]);
    if (names.size === 0) {
      out(`${result.file} lists no app: nothing to start`);
      return EXIT.ok;
    }
    const apps = await client.request({ type: 'list' });
    out(listTable(apps.filter((a) => names.has(a.name))));
    return EXIT.ok;
  }, true);
};
