/**
 * Workers as another user (`user` / `group`, PM2's `uid` / `gid`). The
 * daemon stays root: it binds the listening sockets (so port 80 works for a
 * worker that is `nobody`), reads the worker's pipes and writes the logs.
 * The worker is started through util-linux's `setpriv --reuid --regid
 * --init-groups`, which sets the user's supplementary groups (initgroups(3))
 * before it execs the interpreter: node never runs a line as root, and
 * neither do the app's `--require`/`--import` preloads or NODE_OPTIONS.
 * libuv's own uid/gid spawn options would call setgroups(0) and drop the
 * supplementary groups; PM2's cluster mode never sets the gid at all.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AppSpec } from '../../config/types';
import { HerdError } from '../../errors';
import { lookupGroup, lookupGroupSync, lookupUser, lookupUserSync, type GroupEntry, type UserEntry } from '../../util/accounts';

/** Who a worker is started as, when that is not the daemon's own user and group. */
export interface RunAs {
  readonly user: string;
  /** null only when the user could not be looked up (setpriv gets the name). */
  readonly uid: number | null;
  readonly group: string;
  readonly gid: number | null;
  /** Absolute path of setpriv. */
  readonly setpriv: string;
}

/** Who an app's workers run as, for `herd describe`. */
export interface RunAsView {
  user: string;
  uid: number;
  group: string;
  gid: number;
  /** True when the app sets neither `user` nor `group`: the daemon's own user. */
  daemons: boolean;
}

/** The files a worker must reach as its user, with what it does with each (for messages). */
export interface WorkerFiles {
  /** Executed: the interpreter, or the script itself when it has none. */
  readonly run: readonly { path: string; what: string }[];
  /** Read: herd's agent, the script. */
  readonly read: readonly { path: string; what: string }[];
  /** Entered: the working directory. */
  readonly cwd: string;
}

/**
 * What each app's `user` and `group` resolved to when it was last started or
 * reloaded, so that a spawn (synchronous) need not look them up again. Keyed
 * by the pair, as several apps may share a user.
 */
const resolved = new Map<string, RunAs | null>();

const key = (spec: Pick<AppSpec, 'user' | 'group'>) => `${spec.user ?? ''}\u0000${spec.group ?? ''}`;

const SETPRIV_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', '/usr/local/bin'];

/**
 * Checks `spec`'s user and group before the app starts or is reloaded into
 * it: they exist, the daemon may switch to them (it is root, or they are its
 * own), setpriv is there, and the user can reach herd's agent, the
 * interpreter, the script and the cwd. Throws HERD_ERR_USER naming the field;
 * returns null when the workers run as the daemon's own user and group.
 */
export async function prepareRunAs(spec: AppSpec, files: WorkerFiles): Promise<RunAs | null> {
  if (spec.user === null && spec.group === null) return null;
  const fail = (field: 'user' | 'group', reason: string, value = (field === 'user' ? spec.user : spec.group) ?? '') =>
    new HerdError('HERD_ERR_USER', { name: spec.name, field, value, reason });
  const user = spec.user !== null ? await lookupUser(spec.user) : await lookupUser(String(process.getuid?.() ?? 0));
  if (user === null) throw fail('user', spec.user !== null ? 'no such user on this machine (looked up in /etc/passwd and with getent)' : "the daemon's own user has no passwd entry");
  const group = spec.group !== null ? await lookupGroup(spec.group) : (await lookupGroup(String(user.gid))) ?? { name: String(user.gid), gid: user.gid };
  if (group === null) throw fail('group', 'no such group on this machine (looked up in /etc/group and with getent)');

  if (user.uid === process.getuid?.() && group.gid === process.getgid?.()) {
    resolved.set(key(spec), null);
    return null;
  }
  // The setting that asks for the switch, for messages.
  const field = spec.user !== null && user.uid !== process.getuid?.() ? 'user' : 'group';
  if (process.getuid?.() !== 0) {
    const own = ownIdentity();
    throw fail(field, `the daemon runs as ${own.user} (uid ${own.uid}); only a daemon running as root can start workers as another user or group (start it as root, or leave ${field} out)`,
      field === 'user' ? spec.user ?? '' : spec.group ?? group.name);
  }
  const setpriv = findSetpriv();
  if (setpriv === null) throw fail(field, 'setpriv (util-linux) is not installed; herd starts workers as another user with it (apt-get install util-linux, dnf install util-linux, apk add setpriv)');
  const runAs: RunAs = { user: user.name, uid: user.uid, group: group.name, gid: group.gid, setpriv };
  const problem = await reachProblem(runAs, files);
  if (problem !== null) throw fail(field, problem);
  resolved.set(key(spec), runAs);
  return runAs;
}

/**
 * Who to start `spec`'s workers as: what prepareRunAs found at its start or
 * reload. A spec that never went through it (every daemon path does) is
 * looked up again from the files; what cannot be found is left to setpriv,
 * whose error then ends the worker with its reason on stderr.
 */
export function runAsFor(spec: AppSpec): RunAs | null {
  if (spec.user === null && spec.group === null) return null;
  const known = resolved.get(key(spec));
  if (known !== undefined) return known;
  const user: UserEntry | null = lookupUserSync(spec.user ?? String(process.getuid?.() ?? 0));
  const group: GroupEntry | null = spec.group !== null ? lookupGroupSync(spec.group)
    : user && (lookupGroupSync(String(user.gid)) ?? { name: String(user.gid), gid: user.gid });
  if (user !== null && group !== null && user.uid === process.getuid?.() && group.gid === process.getgid?.()) return null;
  return {
    user: user?.name ?? spec.user ?? '',
    uid: user?.uid ?? null,
    group: group?.name ?? spec.group ?? spec.user ?? '',
    gid: group?.gid ?? null,
    setpriv: findSetpriv() ?? 'setpriv',
  };
}

/** `file args` started as `runAs`: setpriv sets the groups, gid and uid, then execs it in place (same pid). */
export function runAsCommand(runAs: RunAs, file: string, args: readonly string[]): { file: string; args: string[] } {
  return { file: runAs.setpriv, args: [...setprivArgs(runAs), file, ...args] };
}

function setprivArgs(runAs: RunAs): string[] {
  return [`--reuid=${runAs.uid ?? runAs.user}`, `--regid=${runAs.gid ?? runAs.group}`, '--init-groups', '--'];
}

/** For `herd describe`: the app's user and group, or the daemon's own. */
export function runAsView(spec: AppSpec): RunAsView {
  if (spec.user === null && spec.group === null) return { ...ownIdentity(), daemons: true };
  const runAs = runAsFor(spec);
  return runAs === null ? { ...ownIdentity(), daemons: false } : { user: runAs.user, uid: runAs.uid ?? -1, group: runAs.group, gid: runAs.gid ?? -1, daemons: false };
}

/** The workers of `spec` run as root although the app did not ask for it (the daemon's warning); `group` alone keeps the uid. */
export function runsAsRootUnasked(spec: AppSpec): boolean {
  return spec.user === null && process.getuid?.() === 0;
}

let own: Omit<RunAsView, 'daemons'> | null = null;

function ownIdentity(): Omit<RunAsView, 'daemons'> {
  if (own === null) {
    const info = os.userInfo();
    own = { user: info.username, uid: info.uid, group: lookupGroupSync(String(info.gid))?.name ?? String(info.gid), gid: info.gid };
  }
  return own;
}

function findSetpriv(): string | null {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => path.isAbsolute(d)), ...SETPRIV_DIRS];
  for (const dir of dirs) {
    const file = path.join(dir, 'setpriv');
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

/**
 * Asks the kernel, as the user, whether it can run, read and enter what a
 * worker needs (ACLs and every directory on the way count, as they will for
 * the worker): a worker that cannot read herd's agent would otherwise crash
 * with "Cannot find module" and nothing saying why.
 */
function reachProblem(runAs: RunAs, files: WorkerFiles): Promise<string | null> {
  const above = 'search (x) access to every directory above it';
  const checks: { test: string; path: string; message: string }[] = [
    ...files.run.filter((f) => path.isAbsolute(f.path)).map((f) => ({ test: '-x', path: f.path, message: `cannot run ${f.path} (${f.what}): ${runAs.user} needs execute access to it and ${above}` })),
    ...files.read.map((f) => ({ test: '-r', path: f.path, message: `cannot read ${f.path} (${f.what}): ${runAs.user} needs read access to it and ${above}` })),
    { test: '-x', path: files.cwd, message: `cannot enter ${files.cwd} (the app's cwd): ${runAs.user} needs search (x) access to it and to every directory above it` },
  ];
  const script = 'i=0; while [ $# -gt 0 ]; do test "$1" "$2" || { echo "$i"; exit 3; }; i=$((i+1)); shift 2; done';
  const args = [...setprivArgs(runAs), '/bin/sh', '-c', script, 'sh', ...checks.flatMap((c) => [c.test, c.path])];
  return new Promise((resolve) => {
    execFile(runAs.setpriv, args, { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
      if (!err) return resolve(null);
      const failed = (err as { code?: unknown }).code === 3 ? checks[Number(stdout.trim())] : undefined;
      if (failed === undefined) return resolve(`setpriv could not start a process as ${runAs.user}: ${(stderr || err.message).trim()}`);
      resolve(failed.message);
    });
  });
}
