/**
 * `user` / `group` (PM2's `uid` / `gid`): who the workers run as. Looked up
 * while the file is read, so an unknown name is a config problem on its key
 * before anything starts (the CLI and the daemon share the machine's
 * accounts; the daemon looks again when the app starts). The user's HOME,
 * USER, LOGNAME and SHELL replace the shell's, as systemd sets them for
 * `User=`; the app's own `env` still wins.
 */
import { lookupGroupSync, lookupUserSync, type UserEntry } from '../util/accounts';
import { ACCOUNT_KEY } from './specCheck';
import { show, type Report, type Setting } from './report';

/** A `user` or `group` setting as found: its value as text and its key, for messages. */
export interface AccountSetting {
  readonly value: string;
  readonly key: string;
}

/** A name or a numeric id; null (and absent) is "not set", as PM2 reads it. */
export function readAccountSetting(s: Setting, r: Report): AccountSetting | null {
  if (s === undefined || s.value === null) return null;
  const text = typeof s.value === 'number' && Number.isInteger(s.value) && s.value >= 0 ? String(s.value) : s.value;
  if (typeof text === 'string' && ACCOUNT_KEY.test(text)) return { value: text, key: s.key };
  r.problem(s.key, `must be a user or group name, or a numeric id; got ${show(s.value)}`);
  return null;
}

/**
 * Checks that the user and group exist here; returns the variables the
 * user's environment has, or null on a problem (reported on its key).
 */
export function runAsEnv(user: AccountSetting | null, group: AccountSetting | null, r: Report): Record<string, string> | null {
  let entry: UserEntry | null = null;
  let ok = true;
  if (user !== null) {
    entry = lookupUserSync(user.value);
    if (entry === null) {
      r.problem(user.key, `no user ${show(user.value)} on this machine (looked up in /etc/passwd and with getent)`);
      ok = false;
    }
  }
  if (group !== null && lookupGroupSync(group.value) === null) {
    r.problem(group.key, `no group ${show(group.value)} on this machine (looked up in /etc/group and with getent)`);
    ok = false;
  }
  if (!ok) return null;
  return entry === null ? {} : { HOME: entry.home, USER: entry.name, LOGNAME: entry.name, SHELL: entry.shell };
}
