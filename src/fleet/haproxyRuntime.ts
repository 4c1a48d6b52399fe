import * as net from 'node:net';
import { HerdError } from '../errors';

/**
 * A client of HAProxy's runtime API (Management Guide, section 9.3): the
 * `stats socket` of a running HAProxy, a unix socket or a TCP address. Each
 * command gets its own connection (the non-interactive mode: HAProxy answers
 * and closes), so nothing is shared between callers and a command that
 * fails leaves no session behind.
 *
 * herd uses it to add, drain and remove the servers of a backend without a
 * reload (`herd lb haproxy --sync`, and draining a host in a rolling reload).
 */

export type ServerState = 'ready' | 'drain' | 'maint';

export interface HaproxyServer {
  name: string;
  /** ip:port (or unix@path); null when HAProxy shows none. */
  address: string | null;
  /** As `show stat` says it: UP, DOWN, MAINT, DRAIN, no check, UP 1/3 ... */
  status: string;
  /** Current sessions, and requests queued for the server. */
  scur: number;
  qcur: number;
  weight: number;
  /** Administrative state: set by an operator (or inherited, or from the config). */
  admin: ServerState;
}

const TIMEOUT_MS = 5000;

/** The answers of HAProxy that are errors, whatever the command (its messages for a bad name, level or verb). */
const ERROR_ANSWER = /^(Unknown command|No such |Can't find |Require |Permission denied)/;
/**
 * What server commands answer when they worked: nothing, or one of these.
 * Anything else (`Already exists a server...`, `unknown keyword`, `'server'
 * expects ...`, `Only servers in maintenance mode can be deleted.`) failed.
 */
const SERVER_COMMAND = /^(add server|del server|set server|set weight|set maxconn server|enable|disable|shutdown sessions server)\b/;
const SERVER_OK = /^(New server registered\.|Server deleted\.|IP changed from .*|no need to change .*|.*port changed from .*)$/s;

/** admin mask bits of `show servers state` (Management Guide 9.3, "show servers state"). */
const ADMIN_MAINT = 0x01 | 0x02 | 0x04 | 0x20 | 0x40;
const ADMIN_DRAIN = 0x08 | 0x10;

export class HaproxyRuntime {
  private readonly target: net.NetConnectOpts;
  private readonly timeoutMs: number;

  /** `address`: a unix socket path, or `host:port` (`[v6]:port`). */
  constructor(readonly address: string, options: { timeoutMs?: number } = {}) {
    this.target = parseAddress(address);
    this.timeoutMs = options.timeoutMs ?? TIMEOUT_MS;
  }

  /**
   * Sends one command and resolves with HAProxy's whole answer. Rejects when
   * the socket cannot be reached or does not answer within 5 s, and when a
   * server command (add/del/set/enable/disable) is answered with anything
   * but its success message.
   */
  command(line: string): Promise<string> {
    if (/[\r\n;]/.test(line)) return Promise.reject(new Error(`one command per call, without ';' or newlines: ${JSON.stringify(line)}`));
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.target);
      let answer = '';
      let settled = false;
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        socket.destroy();
        reject(new HerdError('HERD_ERR_HAPROXY_UNREACHABLE', { address: this.address, reason }));
      };
      socket.setTimeout(this.timeoutMs, () => fail(`no answer to \`${line}\` within ${this.timeoutMs / 1000} s`));
      socket.on('error', (err: NodeJS.ErrnoException) => fail(err.code ?? err.message));
      socket.on('connect', () => socket.end(`${line}\n`));
      socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
      socket.on('end', () => {
        if (settled) return;
        settled = true;
        socket.destroy();
        const text = answer.trim();
        if (ERROR_ANSWER.test(text) || (SERVER_COMMAND.test(line) && text !== '' && !SERVER_OK.test(text))) {
          reject(new HerdError('HERD_ERR_HAPROXY_COMMAND', { address: this.address, command: line, answer: text.split('\n')[0] ?? '' }));
        } else {
          resolve(answer);
        }
      });
    });
  }

  /** The servers of `backend` as `show stat` and `show servers state` show them; throws naming the backend when HAProxy has none. */
  async servers(backend: string): Promise<HaproxyServer[]> {
    checkName('backend', backend);
    let state: string;
    try {
      state = await this.command(`show servers state ${backend}`);
    } catch (err) {
      if (err instanceof HerdError && err.code === 'HERD_ERR_HAPROXY_COMMAND') throw new HerdError('HERD_ERR_HAPROXY_BACKEND', { address: this.address, backend });
      throw err;
    }
    const admin = new Map<string, number>();
    for (const line of state.split('\n')) {
      const f = line.trim().split(/\s+/);
      // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state ...
      if (f.length > 6 && f[1] === backend && !line.startsWith('#')) admin.set(f[3] as string, Number(f[6]));
    }
    const csv = await this.command('show stat');
    const lines = csv.split('\n');
    const header = (lines[0] ?? '').replace(/^#\s*/, '').split(',');
    const col = (name: string) => header.indexOf(name);
    const [px, sv, st, scur, qcur, weight, type, addr] = ['pxname', 'svname', 'status', 'scur', 'qcur', 'weight', 'type', 'addr'].map(col) as number[];
    if ([px, sv, st, scur, qcur, weight, type].some((i) => i === undefined || i < 0)) throw new Error(`HAProxy at ${this.address}: unexpected \`show stat\` header: ${lines[0] ?? ''}`);
    let backendSeen = false;
    const servers: HaproxyServer[] = [];
    for (const line of lines.slice(1)) {
      const f = line.split(',');
      if (f[px as number] !== backend) continue;
      backendSeen = true;
      if (f[type as number] !== '2') continue;
      const name = f[sv as number] as string;
      const mask = admin.get(name) ?? 0;
      servers.push({
        name,
        address: addr !== undefined && addr >= 0 && f[addr] ? (f[addr] as string) : null,
        status: f[st as number] ?? '',
        scur: Number(f[scur as number]) || 0,
        qcur: Number(f[qcur as number]) || 0,
        weight: Number(f[weight as number]) || 0,
        admin: (mask & ADMIN_MAINT) !== 0 ? 'maint' : (mask & ADMIN_DRAIN) !== 0 ? 'drain' : 'ready',
      });
    }
    if (!backendSeen) throw new HerdError('HERD_ERR_HAPROXY_BACKEND', { address: this.address, backend });
    return servers;
  }

  /** ready: takes traffic; drain: no new traffic (checks go on, persistent connections stay); maint: out, checks stopped. */
  async setState(backend: string, server: string, state: ServerState): Promise<void> {
    await this.command(`set server ${serverRef(backend, server)} state ${state}`);
  }

  /**
   * A server added at run time (HAProxy >= 2.4; no reload). HAProxy creates it
   * in maintenance with its health check off: with `check` the check is
   * enabled (`enable health`), then the server (`enable server`), so it takes
   * traffic once its first check passes. The backend's `option httpchk` is
   * what the check sends; `default-server` is not applied to dynamic servers.
   */
  async addServer(backend: string, server: string, address: string, port: number, options: { check?: { port?: number; path?: never }; weight?: number } = {}): Promise<void> {
    const ref = serverRef(backend, server);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`addServer ${ref}: port must be 1..65535, not ${port}`);
    if (!/^[A-Za-z0-9.:_[\]-]+$/.test(address)) throw new Error(`addServer ${ref}: not an address: ${JSON.stringify(address)}`);
    const args = [`${address.includes(':') && !address.startsWith('[') ? `[${address}]` : address}:${port}`];
    if (options.check) args.push('check', ...(options.check.port === undefined ? [] : ['port', String(options.check.port)]));
    if (options.weight !== undefined) args.push('weight', String(options.weight));
    await this.command(`add server ${ref} ${args.join(' ')}`);
    if (options.check) await this.command(`enable health ${ref}`);
    await this.command(`enable server ${ref}`);
  }

  /**
   * Removes a server: HAProxy deletes only a server in maintenance without
   * connections, so it is put in maint first, then deleted once its
   * connections are gone (polled for up to `waitMs`, default 30 s; 0 tries
   * once). With `force` its sessions are shut down instead of awaited.
   * Rejects with HERD_ERR_HAPROXY_BUSY when connections outlast the wait.
   */
  async delServer(backend: string, server: string, options: { force?: boolean; waitMs?: number } = {}): Promise<void> {
    const ref = serverRef(backend, server);
    await this.setState(backend, server, 'maint');
    if (options.force === true) await this.command(`shutdown sessions server ${ref}`);
    const deadline = Date.now() + (options.waitMs ?? 30_000);
    for (;;) {
      try {
        await this.command(`del server ${ref}`);
        return;
      } catch (err) {
        // "Server still has connections attached to it, cannot remove it.": idle pooled connections count too; they close on their own.
        if (!(err instanceof HerdError && err.code === 'HERD_ERR_HAPROXY_COMMAND' && /connection|stream|queue/i.test(err.message))) throw err;
        if (Date.now() >= deadline) {
          const current = (await this.servers(backend).catch(() => [])).find((s) => s.name === server);
          throw new HerdError('HERD_ERR_HAPROXY_BUSY', { address: this.address, server: ref, sessions: current?.scur ?? 'some' });
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}

function checkName(what: string, name: string): void {
  // A name travels inside a command line: nothing that could end it or start another.
  if (!/^[A-Za-z0-9._:-]+$/.test(name)) throw new Error(`not a HAProxy ${what} name: ${JSON.stringify(name)}`);
}

function serverRef(backend: string, server: string): string {
  checkName('backend', backend);
  checkName('server', server);
  return `${backend}/${server}`;
}

/** A unix socket path, or host:port / [v6]:port. */
export function parseAddress(address: string): net.NetConnectOpts {
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(address);
  if (v6) return { host: v6[1] as string, port: Number(v6[2]) };
  const tcp = /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(address);
  if (tcp && !address.includes('/')) return { host: tcp[1] as string, port: Number(tcp[2]) };
  if (address === '') throw new Error('the HAProxy runtime API address is empty');
  return { path: address };
}
