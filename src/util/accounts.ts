/**
 * Local users and groups, by name or numeric id: /etc/passwd and /etc/group
 * first (no process to start), then `getent` for the accounts NSS knows
 * (LDAP, sssd, systemd-userdb), which is what setpriv and the kernel's
 * callers will see. The CLI looks up synchronously while it reads a config;
 * the daemon asynchronously, so a slow directory service never blocks it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

export interface UserEntry {
  readonly name: string;
  readonly uid: number;
  /** The primary group. */
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
}

export interface GroupEntry {
  readonly name: string;
  readonly gid: number;
}

type Db = 'passwd' | 'group';
const FILES: Record<Db, string> = { passwd: '/etc/passwd', group: '/etc/group' };
const GETENT_TIMEOUT_MS = 5000;

function parseUser(fields: string[]): UserEntry | null {
  const [name, , uid, gid, , home, shell] = fields;
  if (!name || !isId(uid) || !isId(gid)) return null;
  return { name, uid: Number(uid), gid: Number(gid), home: home ?? '', shell: shell ?? '' };
}

function parseGroup(fields: string[]): GroupEntry | null {
  const [name, , gid] = fields;
  return name && isId(gid) ? { name, gid: Number(gid) } : null;
}

function isId(text: string | undefined): text is string {
  return text !== undefined && /^\d+$/.test(text);
}

/**
 * The entry `key` names in the lines of a passwd or group file: by name
 * first, then, for a number, by id (as chown does: a name made of digits wins).
 */
function findIn<T extends { name: string }>(text: string, key: string, parse: (fields: string[]) => T | null, id: (entry: T) => number): T | null {
  const entries: T[] = [];
  for (const line of text.split('\n')) {
    // '+' and '-' lines are NIS compat markers, not accounts.
    if (line === '' || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const entry = parse(line.split(':'));
    if (entry) entries.push(entry);
  }
  return entries.find((e) => e.name === key) ?? (isId(key) ? entries.find((e) => id(e) === Number(key)) ?? null : null);
}

export function findUserIn(text: string, key: string): UserEntry | null {
  return findIn(text, key, parseUser, (e) => e.uid);
}

export function findGroupIn(text: string, key: string): GroupEntry | null {
  return findIn(text, key, parseGroup, (e) => e.gid);
}

function readSync(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function getentSync(db: Db, key: string): string {
  const r = spawnSync('getent', [db, key], { encoding: 'utf8', timeout: GETENT_TIMEOUT_MS });
  return r.status === 0 && typeof r.stdout === 'string' ? r.stdout : '';
}

function getent(db: Db, key: string): Promise<string> {
  return new Promise((resolve) => {
    // No getent (a minimal image) or no answer in time: the account is unknown.
    execFile('getent', [db, key], { encoding: 'utf8', timeout: GETENT_TIMEOUT_MS }, (err, stdout) => resolve(err ? '' : stdout));
  });
}

/** A user by name or uid; null when neither the files nor NSS know it. */
export function lookupUserSync(key: string): UserEntry | null {
  return findUserIn(readSync(FILES.passwd), key) ?? findUserIn(getentSync('passwd', key), key);
}

export function lookupGroupSync(key: string): GroupEntry | null {
  return findGroupIn(readSync(FILES.group), key) ?? findGroupIn(getentSync('group', key), key);
}

export async function lookupUser(key: string): Promise<UserEntry | null> {
  const local = findUserIn(await readFile(FILES.passwd, 'utf8').catch(() => ''), key);
  return local ?? findUserIn(await getent('passwd', key), key);
}

export async function lookupGroup(key: string): Promise<GroupEntry | null> {
  const local = findGroupIn(await readFile(FILES.group, 'utf8').catch(() => ''), key);
  return local ?? findGroupIn(await getent('group', key), key);
}
