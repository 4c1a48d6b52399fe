#!/usr/bin/env node
import { HERD_VERSION } from '../protocol/version';
import { checkFlags, parseArgs, unknownCommand } from './args';
import { COMMANDS } from './commands';
import { HELP } from './help';
import { exitCodeFor, printError } from './output';

async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (args.flags.version === true) {
    process.stdout.write(`${HERD_VERSION}\n`);
    return 0;
  }
  if (args.flags.help === true || args.command === '' || args.command === 'help') {
    process.stdout.write(HELP);
    return args.command === '' && args.flags.help !== true ? 2 : 0;
  }
  const command = Object.prototype.hasOwnProperty.call(COMMANDS, args.command) ? COMMANDS[args.command] : undefined;
  if (!command) throw unknownCommand(args.command, Object.keys(COMMANDS));
  checkFlags(args, command);
  return command.run(args);
}

// A reader that went away (`herd reload api | head -1`) must not turn the
// rest of the output into an uncaught EPIPE: the command runs to its end
// and exits with its own code; what could not be printed is dropped.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    printError(err, process.argv.includes('--json'));
    // Exit now: a config file that was loaded may have left timers or sockets
    // behind (one that never finished loading certainly has).
    process.exit(exitCodeFor(err));
  },
);
