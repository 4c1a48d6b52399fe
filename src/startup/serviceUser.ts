import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

/** An account from the user database: what the unit needs of it. */
export interface Account {
  name: string;
  uid: number;
  home: string;
}

/**
 * The account named `name`, from the system's user database (getent, so
 * that LDAP and other NSS sources count), or from /etc/passwd where getent
 * is missing; null when there is no such user.
 */
export function lookupAccount(name: string): Account | null {
  const got = spawnSync('getent', ['passwd', name], { encoding: 'utf8' });
  if (got.error === undefined) return got.status === 0 ? parsePasswdLine(got.stdout.split('\n')[0] ?? '') : null;
  let text: string;
  try {
    text = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const account = parsePasswdLine(line);
    if (account?.name === name) return account;
  }
  return null;
}

/** The account running this process. */
export function currentAccount(): Account {
  const info = os.userInfo();
  return { name: info.username, uid: info.uid, home: info.homedir };
}

/** `name:x:uid:gid:gecos:home:shell`, or null when the line is not one. */
export function parsePasswdLine(line: string): Account | null {
  const fields = line.split(':');
  if (fields.length < 7) return null;
  const [name, , uid, , , home] = fields as [string, string, string, string, string, string];
  if (name === '' || !/^\d+$/.test(uid)) return null;
  return { name, uid: Number(uid), home };
}
