import { readFileSync } from 'node:fs';
import type { ListenFailure } from '../../protocol/shim';
import { addressesConflict, commandLine, holdersOf, listeningSockets, processTable, type ProcessEntry } from '../worker/procNet';

/** A worker could not listen: the port is taken, or needs privileges (defined with the host protocol, which reports it). */
export type { ListenFailure };

/**
 * Recognise a failed listen in one line of a worker's stderr: Node's
 * `Error: listen EADDRINUSE: address already in use :::3100` (and `bind
 * EADDRINUSE null:3100` in cluster mode), Go's `listen tcp :8080: bind:
 * address already in use`, Python's `OSError: [Errno 98] Address already in use`.
 */
export function parseListenFailure(line: string): ListenFailure | null {
  if (!line.includes('EADDRINUSE') && !line.includes('EACCES') && !/address already in use/i.test(line)) return null;
  const node = /\b(?:listen|bind) (EADDRINUSE|EACCES)(?:: [^:]*?)? (\S+)$/.exec(line.trim());
  if (node) return { code: node[1] as ListenFailure['code'], ...splitAddress(node[2] as string) };
  const go = /\blisten tcp[46]? (\S*):(\d+): bind: (address already in use|permission denied)/.exec(line);
  if (go) return { code: go[3] === 'permission denied' ? 'EACCES' : 'EADDRINUSE', address: go[1] || null, port: Number(go[2]) };
  if (/\[Errno 98\] Address already in use/.test(line)) return { code: 'EADDRINUSE', address: null, port: null };
  return null;
}

/** `:::3100` -> ('::', 3100); `127.0.0.1:3000`; `null:3100` (cluster's "any"). */
function splitAddress(text: string): { address: string | null; port: number | null } {
  const m = /^(.*):(\d+)$/.exec(text);
  if (!m) return { address: null, port: null };
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  return { address: host === '' || host === 'null' || host === 'undefined' ? null : host, port: Number(m[2]) };
}

/** Who holds a port, as far as this process can see. */
export interface PortHolders {
  /** e.g. `held by pid 123 (node server.js)`, `held by herd app api`. */
  text: string;
  /** herd apps among the holders. */
  apps: string[];
}

/**
 * Names a holder the daemon knows: one of its apps (a worker's tree, or a
 * socket the daemon holds for a cluster app), or the daemon itself.
 */
export type KnownOwner = (pid: number, inode: number, table: readonly ProcessEntry[]) => { label: string; app: string | null } | null;

/**
 * Who is listening where `wanted` would listen; null when nobody is (the port
 * is free now). A socket whose process cannot be seen (another user's, when
 * the daemon is not root) is named by its owner's uid.
 */
export async function findPortHolders(wanted: { address: string | null; port: number }, known: KnownOwner): Promise<PortHolders | null> {
  const sockets = (await listeningSockets()).filter((s) => addressesConflict(wanted, s));
  if (sockets.length === 0) return null;
  const table = await processTable();
  const holders = await holdersOf(new Set(sockets.map((s) => s.inode)), table);
  const names: string[] = [];
  const apps = new Set<string>();
  for (const socket of sockets) {
    const pids = holders.get(socket.inode) ?? [];
    if (pids.length === 0) {
      names.push(`a process of ${userName(socket.uid)} that herd cannot see (another user's, or in another container)`);
      continue;
    }
    for (const pid of pids) {
      const owner = known(pid, socket.inode, table);
      if (owner !== null) {
        if (owner.app !== null) apps.add(owner.app);
        names.push(owner.label);
      } else {
        names.push(`pid ${pid} (${(await commandLine(pid)) ?? 'command line unknown'})`);
      }
    }
  }
  const unique = [...new Set(names)];
  const shown = unique.length > 3 ? [...unique.slice(0, 3), `${unique.length - 3} more`] : unique;
  return { text: `held by ${shown.join(', ')}`, apps: [...apps] };
}

/** `port 3100`, or `*:3100` style detail when an address was asked for. */
export function portLabel(f: { address: string | null; port: number | null }): string {
  if (f.port === null) return 'its port';
  return f.address === null || f.address === '::' || f.address === '0.0.0.0' ? `port ${f.port}` : `port ${f.port} on ${f.address}`;
}

function userName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (Number(id) === uid && name) return `user ${name} (uid ${uid})`;
    }
  } catch {
    // no passwd file (a minimal container)
  }
  return `uid ${uid}`;
}
