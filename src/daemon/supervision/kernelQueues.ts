import { promises as fs } from 'node:fs';
import type { QueueView } from '../../metrics/view';

/**
 * The queues in front of an app that no worker can see, read from the
 * kernel's socket tables: connections waiting in the listening socket's
 * accept queue, and accepted connections whose bytes no worker has read yet
 * (a busy event loop reads its sockets late). The daemon samples them once a
 * second for apps with a TCP port: one read of /proc/net/tcp and one of
 * /proc/net/tcp6 serve every app.
 */

/** TCP states in /proc/net/tcp: 01 ESTABLISHED, 0A LISTEN. */
const ESTABLISHED = '01';
const LISTEN = '0A';

/**
 * Add the queues of `ports` found in /proc/net/tcp or tcp6 text to `into`
 * (an entry per port, created on first sight). For a LISTEN socket rx_queue
 * is the current accept queue length; for an established one, the bytes
 * received and not yet read.
 */
export function addQueues(text: string, ports: ReadonlySet<number>, into: Map<number, QueueView>): void {
  let start = text.indexOf('\n') + 1;
  while (start > 0 && start < text.length) {
    const end = text.indexOf('\n', start);
    const line = text.slice(start, end === -1 ? text.length : end);
    start = end === -1 ? text.length : end + 1;
    // "sl local_address rem_address st tx_queue:rx_queue ..."
    const f = line.trim().split(/\s+/);
    if (f.length < 5) continue;
    const state = f[3];
    if (state !== LISTEN && state !== ESTABLISHED) continue;
    const local = f[1] ?? '';
    const port = parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
    if (!ports.has(port)) continue;
    const queues = f[4] ?? '';
    const rx = parseInt(queues.slice(queues.indexOf(':') + 1), 16);
    if (!Number.isFinite(rx)) continue;
    let q = into.get(port);
    if (!q) into.set(port, (q = { accept: 0, unread: 0 }));
    if (state === LISTEN) q.accept += rx;
    else if (rx > 0) q.unread++;
  }
}

/**
 * The queues of each of `ports` now; null when no table could be read (not
 * Linux). Reading a table costs the kernel a walk of its whole connection
 * hash, busy or not (about 6-10 ms of CPU on a 2-core VM): read only the
 * families asked for.
 */
export async function readQueues(ports: ReadonlySet<number>, families: { v4: boolean; v6: boolean } = { v4: true, v6: true }): Promise<Map<number, QueueView> | null> {
  const read = (file: string, wanted: boolean) => (wanted ? fs.readFile(file, 'utf8').catch(() => null) : Promise.resolve(null));
  const [v4, v6] = await Promise.all([read('/proc/net/tcp', families.v4), read('/proc/net/tcp6', families.v6)]);
  if (v4 === null && v6 === null) return null;
  const out = new Map<number, QueueView>();
  if (v4 !== null) addQueues(v4, ports, out);
  if (v6 !== null) addQueues(v6, ports, out);
  return out;
}

/**
 * The table a listening address's connections are in: `[::]:3000` (IPv4
 * clients included, as ::ffff: addresses) in tcp6, `0.0.0.0:3000` in tcp.
 */
export function familyOf(address: string): 'v4' | 'v6' {
  return address.startsWith('[') ? 'v6' : 'v4';
}

/** One app's queues: the sum over its ports (null when it has none, or none was found listening). */
export function appQueue(appPorts: readonly number[], all: ReadonlyMap<number, QueueView> | null): QueueView | null {
  if (all === null) return null;
  let found = false;
  const sum: QueueView = { accept: 0, unread: 0 };
  for (const port of appPorts) {
    const q = all.get(port);
    if (!q) continue;
    found = true;
    sum.accept += q.accept;
    sum.unread += q.unread;
  }
  return found ? sum : null;
}
