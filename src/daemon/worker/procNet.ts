import { promises as fs } from 'node:fs';

/**
 * What Linux tells about listening TCP sockets and the processes that hold
 * them, read from /proc: the readiness of workers without herd's agent (a
 * python3 or npm app is ready once its process tree listens) and the
 * diagnosis of a port in use (which process holds it).
 */

export interface ListeningSocket {
  inode: number;
  /** Printable local address: '127.0.0.1', '::', '0.0.0.0', '::ffff:127.0.0.1'. */
  address: string;
  port: number;
  /** Owner of the socket, as the kernel shows it even when its process cannot be seen. */
  uid: number;
}

/** TCP state 0A in /proc/net/tcp is LISTEN. */
const LISTEN_STATE = '0A';

/** Parse /proc/net/tcp or /proc/net/tcp6 text into its listening sockets. */
export function parseProcNetTcp(text: string): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== LISTEN_STATE) continue;
    const [hex, portHex] = (f[1] ?? '').split(':');
    const inode = Number(f[9]);
    if (!hex || !portHex || !Number.isInteger(inode) || inode === 0) continue;
    out.push({ inode, address: hexAddress(hex), port: parseInt(portHex, 16), uid: Number(f[7]) });
  }
  return out;
}

/** Every listening TCP socket of this network namespace (IPv4 and IPv6). */
export async function listeningSockets(): Promise<ListeningSocket[]> {
  const read = (file: string) => fs.readFile(file, 'utf8').then(parseProcNetTcp, () => []);
  const [v4, v6] = await Promise.all([read('/proc/net/tcp'), read('/proc/net/tcp6')]);
  return [...v4, ...v6];
}

/** `host:port` as herd prints addresses: `127.0.0.1:3000`, `[::]:3000`. */
export function formatAddress(s: { address: string; port: number }): string {
  return `${s.address.includes(':') ? `[${s.address}]` : s.address}:${s.port}`;
}

/**
 * Would a socket bound to `wanted` conflict with one listening on `held`?
 * Same port and the same address, or either a wildcard (`::` without
 * IPV6_V6ONLY also covers every IPv4 address, Linux's default).
 */
export function addressesConflict(wanted: { address: string | null; port: number }, held: { address: string; port: number }): boolean {
  if (wanted.port !== held.port) return false;
  const a = normalise(wanted.address ?? '::');
  const b = normalise(held.address);
  return a === b || WILDCARDS.has(a) || WILDCARDS.has(b);
}

const WILDCARDS = new Set(['::', '0.0.0.0', '']);

function normalise(address: string): string {
  const a = address.replace(/^\[|\]$/g, '').toLowerCase();
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** /proc/net/tcp prints each 32-bit word of the address in host (little-endian) byte order. */
function hexAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => [6, 4, 2, 0].map((i) => parseInt(w.slice(i, i + 2), 16)));
  if (bytes.length === 4) return bytes.join('.');
  if (bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    return `::ffff:${bytes.slice(12).join('.')}`;
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16));
  return compressV6(groups);
}

/** The longest run of zero groups becomes `::`. */
function compressV6(groups: string[]): string {
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

// ---------------------------------------------------------------------------
// Processes

export interface ProcessEntry {
  pid: number;
  ppid: number;
  /** Process group: a worker is spawned detached, so its group id is its pid. */
  pgrp: number;
  /** 'R', 'S', ...; 'Z' for a zombie, which has exited and waits to be reaped. */
  state: string;
  /** utime + stime in clock ticks. */
  cpuTicks: number;
}

/** Parse /proc/<pid>/stat; the command name in parentheses may itself hold spaces and parentheses. */
export function parseStat(text: string): ProcessEntry | null {
  const close = text.lastIndexOf(')');
  const pid = parseInt(text, 10);
  if (close < 0 || !Number.isInteger(pid)) return null;
  const f = text.slice(close + 2).split(' ');
  // f[0] is field 3 (state): ppid is field 4, pgrp 5, utime 14, stime 15.
  return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), state: f[0] ?? '', cpuTicks: Number(f[11]) + Number(f[12]) };
}

// Workers starting at the same time poll together: one scan serves them all.
const TABLE_TTL_MS = 40;
let cachedTable: { at: number; table: Promise<ProcessEntry[]> } | null = null;

/** Every process this one can see (one scan of /proc shared by callers within a few ms). */
export function processTable(): Promise<ProcessEntry[]> {
  const now = Date.now();
  if (cachedTable === null || now - cachedTable.at > TABLE_TTL_MS) cachedTable = { at: now, table: scanProcesses() };
  return cachedTable.table;
}

async function scanProcesses(): Promise<ProcessEntry[]> {
  const names = await fs.readdir('/proc').catch(() => [] as string[]);
  const entries = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) =>
    fs.readFile(`/proc/${n}/stat`, 'utf8').then(parseStat, () => null)));
  return entries.filter((e): e is ProcessEntry => e !== null);
}

/**
 * `root` and its descendants (by parent pid), plus the members of its process
 * group whose parent already exited: npm -> sh -> node is one worker.
 */
export function treeOf(root: number, table: readonly ProcessEntry[]): ProcessEntry[] {
  const children = new Map<number, ProcessEntry[]>();
  for (const e of table) children.set(e.ppid, [...(children.get(e.ppid) ?? []), e]);
  const seen = new Map<number, ProcessEntry>();
  const stack = table.filter((e) => e.pid === root || e.pgrp === root);
  while (stack.length > 0) {
    const e = stack.pop() as ProcessEntry;
    if (seen.has(e.pid)) continue;
    seen.set(e.pid, e);
    stack.push(...(children.get(e.pid) ?? []));
  }
  return [...seen.values()];
}

/** Inodes of the sockets among `pid`'s open files (empty when they cannot be read: gone, or another user's). */
export async function socketInodes(pid: number): Promise<Set<number>> {
  const dir = `/proc/${pid}/fd`;
  const fds = await fs.readdir(dir).catch(() => [] as string[]);
  const links = await Promise.all(fds.map((fd) => fs.readlink(`${dir}/${fd}`).catch(() => '')));
  const out = new Set<number>();
  for (const link of links) {
    const m = /^socket:\[(\d+)\]$/.exec(link);
    if (m) out.add(Number(m[1]));
  }
  return out;
}

/** The command line of `pid`, arguments separated by spaces; null when it cannot be read. */
export async function commandLine(pid: number): Promise<string | null> {
  const raw = await fs.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (raw === null || raw.length === 0) return null;
  return raw.replace(/\0+$/, '').split('\0').join(' ');
}

/** Processes (of those visible) that hold each of `inodes` open. */
export async function holdersOf(inodes: ReadonlySet<number>, table?: readonly ProcessEntry[]): Promise<Map<number, number[]>> {
  const pids = (table ?? await processTable()).map((e) => e.pid);
  const out = new Map<number, number[]>();
  await Promise.all(pids.map(async (pid) => {
    for (const inode of await socketInodes(pid)) {
      if (inodes.has(inode)) out.set(inode, [...(out.get(inode) ?? []), pid]);
    }
  }));
  return out;
}
