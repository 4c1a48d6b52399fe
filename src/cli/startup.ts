import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HerdError } from '../errors';
import { currentAccount, lookupAccount, type Account } from '../startup/serviceUser';
import { systemctl, systemdRunning, unitFile } from '../startup/systemd';
import { DEFAULT_STOP_TIMEOUT_SEC, renderUnit, servicePath, unitName } from '../startup/systemdUnit';
import { writeFileAtomic } from '../util/atomicWrite';
import { resolveHome } from '../util/paths';
import { stringFlag, usage, type ParsedArgs } from './args';
import { EXIT, printWarnings } from './output';

/** The CLI entry the unit runs: this file's sibling, by its real path (not a bin symlink npm may move). */
const CLI_ENTRY = path.join(__dirname, 'main.js');
const DOCS_PAGE = path.resolve(__dirname, '..', '..', 'docs', 'systemd.md');

/** `herd startup [systemd] [--user U] [--print]`: write (or print) the boot-time unit. */
export async function startup(args: ParsedArgs): Promise<number> {
  const account = targetAccount(args, 'startup');
  const herdHome = homeOf(account);
  const unit = renderUnit({
    user: account.name,
    herdHome,
    logDir: process.env.HERD_LOG_DIR ? path.resolve(process.env.HERD_LOG_DIR) : null,
    node: process.execPath,
    cli: CLI_ENTRY,
    path: servicePath(path.dirname(process.execPath)),
    stopTimeoutSec: DEFAULT_STOP_TIMEOUT_SEC,
    documentation: fs.existsSync(DOCS_PAGE) ? pathToFileURL(DOCS_PAGE).href : null,
  });
  if (args.flags.print === true) {
    process.stdout.write(unit);
    return EXIT.ok;
  }
  const name = unitName(account.name);
  const file = unitFile(name);
  needRoot(file, args, account);
  printWarnings(unreachable(account, [process.execPath, CLI_ENTRY]));
  await writeFileAtomic(file, unit, 0o644);
  fs.chmodSync(file, 0o644);
  process.stdout.write(`wrote ${file}: at boot, herd's daemon runs as ${account.name} with HERD_HOME=${herdHome} and starts the apps saved there (herd save)\n`);
  if (!systemdRunning()) {
    process.stdout.write(`systemd is not running on this machine (no /run/systemd/system), so the unit is not enabled; where it runs: systemctl daemon-reload && systemctl enable ${name}\n`);
    return EXIT.ok;
  }
  systemctl(['daemon-reload']);
  systemctl(['enable', name]);
  process.stdout.write(`enabled ${name}: it starts at boot. To start it now: systemctl start ${name} (a daemon started by hand for ${herdHome} must be stopped first: herd kill)\n`);
  return EXIT.ok;
}

/** `herd unstartup [systemd] [--user U]`: stop and disable the unit, and remove its file. */
export async function unstartup(args: ParsedArgs): Promise<number> {
  const account = targetAccount(args, 'unstartup');
  const name = unitName(account.name);
  const file = unitFile(name);
  needRoot(file, args, account);
  if (!fs.existsSync(file)) {
    process.stdout.write(`no ${name} in ${path.dirname(file)}: nothing to remove\n`);
    return EXIT.ok;
  }
  const managed = systemdRunning();
  // --now stops it first: ExecStop drains the apps, as `herd kill` does.
  if (managed) systemctl(['disable', '--now', name]);
  fs.rmSync(file, { force: true });
  if (managed) systemctl(['daemon-reload']);
  process.stdout.write(managed
    ? `stopped and disabled ${name} (its apps drained), removed ${file}\n`
    : `removed ${file} (systemd is not running on this machine: there was nothing to stop or disable)\n`);
  return EXIT.ok;
}

/** The account the unit is for: --user, or whoever runs herd (root's unit runs as root). */
function targetAccount(args: ParsedArgs, command: string): Account {
  const [platform, extra] = args.positionals;
  if (platform !== undefined && platform !== 'systemd') {
    throw usage(`${command}: herd writes systemd units only; got "${platform}" (leave it out, or say systemd)`);
  }
  if (extra !== undefined) throw usage(`${command}: unexpected argument "${extra}"`);
  const user = stringFlag(args, 'user');
  if (user === undefined) return currentAccount();
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(user)) throw usage(`${command}: --user "${user}" is not a user name a unit can run as`);
  const account = lookupAccount(user);
  if (account === null) throw usage(`${command}: --user ${user}: no such user on this machine`);
  return account;
}

/**
 * The unit's HERD_HOME: $HERD_HOME when set (as every herd command reads
 * it), else the account's ~/.herd.
 */
function homeOf(account: Account): string {
  return process.env.HERD_HOME ? resolveHome() : path.join(account.home, '.herd');
}

/** Units go in /etc/systemd/system: only root writes there. The error says the exact command to run. */
function needRoot(file: string, args: ParsedArgs, account: Account): void {
  if (process.getuid?.() === 0) return;
  const env = ['HERD_HOME', 'HERD_LOG_DIR'].filter((k) => process.env[k]).map((k) => `${k}=${shellWord(process.env[k] as string)}`);
  const command = [
    'sudo', ...(env.length > 0 ? ['env', ...env] : []),
    shellWord(process.execPath), shellWord(CLI_ENTRY), args.command, 'systemd', '--user', shellWord(account.name),
  ].join(' ');
  throw new HerdError('HERD_ERR_STARTUP_ROOT', { path: file }, [`run: ${command}`, 'herd startup --print shows the unit without writing it']);
}

/**
 * Files the account may not reach (a node under /root/.nvm for another
 * user): the unit would fail at boot with "permission denied". Judged by
 * the mode bits, a group's counting for anyone: it may miss a case, but it
 * does not cry wolf. A warning, not an error: the admin may know better.
 */
function unreachable(account: Account, files: readonly string[]): string[] {
  if (account.uid === 0) return [];
  const warnings: string[] = [];
  for (const file of files) {
    const ancestors: string[] = [];
    for (let dir = path.dirname(file); ; dir = path.dirname(dir)) {
      ancestors.unshift(dir);
      if (path.dirname(dir) === dir) break;
    }
    const closed = ancestors.find((dir) => !allows(account.uid, dir, 0o1)) ?? (allows(account.uid, file, 0o4) ? undefined : file);
    if (closed !== undefined) {
      warnings.push(`${account.name} may not be able to read ${file} (${closed} is closed to other users): the unit would fail at boot; install node and herd where ${account.name} can read them`);
    }
  }
  return warnings;
}

/** Whether `uid` has `bit` (4 read, 1 search) on `file` as its owner, or by its group or other bits. */
function allows(uid: number, file: string, bit: number): boolean {
  try {
    const { mode, uid: owner } = fs.statSync(file);
    return owner === uid ? (mode & (bit << 6)) !== 0 : (mode & (bit | (bit << 3))) !== 0;
  } catch {
    return false;
  }
}

/** A word for a POSIX shell, quoted when it needs to be. */
function shellWord(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}
