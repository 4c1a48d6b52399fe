import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';

/**
 * Several "machines" on one: a network namespace per fleet host, each with a
 * veth pair whose other end is a port of a bridge in the root namespace. The
 * bridge holds the subnet's .1 (where the test's Redis listens), host i
 * (1-based) holds .(10 + i) on its eth0, with a default route via the bridge.
 * Everything lives on one layer-2 segment, so no forwarding is needed: the
 * root namespace (the test itself) reaches every host directly, hosts reach
 * each other and the bridge address.
 *
 * The subnet is 10.213.<random>.0/24, chosen so that no address or route of
 * the machine overlaps it. Everything created is removed by a t.after hook,
 * pass or fail: every process in each namespace is killed (SIGTERM, then
 * SIGKILL after a grace period), then the veths, the namespaces and the bridge
 * are deleted.
 */

/** The part of node:test's TestContext used here (a test may pass a stand-in to run the hooks itself). */
export interface AfterHook {
  after(fn: () => unknown): void;
}

export interface FleetHost {
  /** host1, host2, … (1-based, as is the address: host i is .(10 + i)) */
  name: string;
  /** The network namespace: herd-<run id>-<i> */
  ns: string;
  /** The host's IPv4 address on its eth0, without prefix. */
  address: string;
  /** 1-based */
  index: number;
  /** The veth end on the bridge, in the root namespace (hv<run id>-<i>). */
  veth: string;
}

/** A host object, its name (host1) or its namespace name. */
export type HostRef = FleetHost | string;

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions extends SpawnOptions {
  /** Written to stdin, which is then closed. */
  input?: string;
  /** The command is killed (SIGKILL) and run() rejects after this long. Default 30 s. */
  timeoutMs?: number;
}

/** A process started in a namespace; output() is what it wrote so far on the pipes exec made (its last 256 KB). */
export type FleetChild = ChildProcess & { output(): string };

export interface FleetNet {
  /** The run's random id, in every name below. */
  id: string;
  /** 10.213.x.0/24 */
  subnet: string;
  prefixLength: number;
  /** The bridge in the root namespace, hb<run id>. */
  bridge: string;
  /** The bridge's address (.1), the hosts' default gateway: where the test's Redis listens. */
  bridgeAddress: string;
  hosts: FleetHost[];
  /** One host by object, name or namespace; throws for a namespace not of this run. */
  host(ref: HostRef): FleetHost;
  /** Starts `cmd args` inside the host's namespace (`ip netns exec`). Default stdio: stdin ignored, stdout and stderr piped (and collected, so a pipe nobody reads never fills). */
  exec(ref: HostRef, cmd: string, args?: string[], opts?: SpawnOptions): FleetChild;
  /** Runs `cmd args` inside the namespace to its end. */
  run(ref: HostRef, cmd: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  /** Pids of every process in the namespace (`ip netns pids`). */
  pids(ref: HostRef): Promise<number[]>;
  /** Kills every process in the namespace ("the host dies"): `signal` (SIGTERM), then SIGKILL after graceMs (5 s); resolves once none is left. */
  kill(ref: HostRef, opts?: { signal?: NodeJS.Signals; graceMs?: number }): Promise<void>;
  /** Takes the host's veth end on the bridge down: the host is cut off from the bridge, Redis and the other hosts. */
  disconnect(ref: HostRef): Promise<void>;
  /** Undoes disconnect(); resolves once the bridge port forwards again. */
  reconnect(ref: HostRef): Promise<void>;
  /** What the t.after hook runs; idempotent. Rejects when something could not be removed. */
  cleanup(): Promise<void>;
}

export const FLEET_NET_PREFIX = '10.213';

export interface CmdResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cmd(file: string, args: string[]): Promise<CmdResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', (err) => resolve({ code: -1, stdout, stderr: stderr + String(err) }));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

async function ip(args: string[]): Promise<string> {
  const r = await cmd('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** Like ip(), but a thing already gone is not an error. */
async function ipGone(args: string[]): Promise<void> {
  const r = await cmd('ip', args);
  if (r.code === 0) return;
  if (/Cannot find device|No such file or directory|does not exist|Cannot open network namespace/i.test(r.stderr)) return;
  throw new Error(`ip ${args.join(' ')} failed (${r.code}): ${r.stderr.trim()}`);
}

/**
 * Why this machine cannot make a fleet network, or false when it can:
 * needs root, iproute2, and a kernel that lets it create a namespace, a veth
 * pair and a bridge (probed by creating and deleting one of each).
 */
export function netnsProblem(): string | false {
  if (process.getuid?.() !== 0) return 'needs root for network namespaces (ip netns)';
  const list = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (list.error) return 'no ip command here (apt-get install iproute2)';
  if (list.status !== 0) return `ip netns is not available here: ${list.stderr.trim()}`;
  const ns = `herd-probe-${process.pid}`;
  const br = `hpb${process.pid}`;
  const veth = `hpv${process.pid}`;
  const step = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8' });
  try {
    for (const args of [['netns', 'add', ns], ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns], ['link', 'add', br, 'type', 'bridge']]) {
      const r = step(args);
      if (r.status !== 0) return `cannot create a fleet network here (ip ${args.join(' ')}: ${r.stderr.trim()})`;
    }
    return false;
  } finally {
    step(['link', 'del', br]);
    step(['link', 'del', veth]);
    step(['netns', 'del', ns]);
  }
}

function toInt(a: string): number {
  return a.split('.').reduce((n, part) => n * 256 + Number(part), 0) >>> 0;
}

/** [first, last] of a CIDR or a bare address. */
function range(cidr: string): [number, number] | undefined {
  const [addr, len] = cidr.split('/');
  if (!addr || !/^\d+\.\d+\.\d+\.\d+$/.test(addr)) return undefined;
  const bits = len === undefined ? 32 : Number(len);
  const size = 2 ** (32 - bits);
  const first = Math.floor(toInt(addr) / size) * size;
  return [first, first + size - 1];
}

/** A 10.213.x.0/24 that no address or route of the root namespace overlaps (default routes aside). */
async function pickSubnet(): Promise<string> {
  const used: [number, number][] = [];
  const routes = JSON.parse(await ip(['-j', '-4', 'route', 'show', 'table', 'all'])) as { dst?: string }[];
  for (const r of routes) {
    const span = r.dst && r.dst !== 'default' ? range(r.dst) : undefined;
    if (span) used.push(span);
  }
  const links = JSON.parse(await ip(['-j', '-4', 'addr', 'show'])) as { addr_info?: { local?: string; prefixlen?: number }[] }[];
  for (const l of links) {
    for (const a of l.addr_info ?? []) {
      const span = a.local ? range(`${a.local}/${a.prefixlen ?? 32}`) : undefined;
      if (span) used.push(span);
    }
  }
  const tried = new Set<number>();
  while (tried.size < 256) {
    const x = randomBytes(1)[0] as number;
    if (tried.has(x)) continue;
    tried.add(x);
    const mine = range(`${FLEET_NET_PREFIX}.${x}.0/24`) as [number, number];
    if (!used.some(([a, b]) => a <= mine[1] && b >= mine[0])) return `${FLEET_NET_PREFIX}.${x}.0/24`;
  }
  throw new Error(`every ${FLEET_NET_PREFIX}.x.0/24 is already routed on this machine`);
}

async function netnsPids(ns: string): Promise<number[]> {
  const r = await cmd('ip', ['netns', 'pids', ns]);
  if (r.code !== 0) {
    if (/No such file or directory|Cannot open network namespace|does not exist/i.test(r.stderr)) return [];
    throw new Error(`ip netns pids ${ns} failed (${r.code}): ${r.stderr.trim()}`);
  }
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((p) => Number.isInteger(p) && p > 1 && p !== process.pid);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Kills every process in the namespace; resolves once `ip netns pids` lists none. */
async function killNamespace(ns: string, sig: NodeJS.Signals, graceMs: number): Promise<void> {
  for (const pid of await netnsPids(ns)) signal(pid, sig);
  if (await until(async () => (await netnsPids(ns)).length === 0, graceMs)) return;
  for (const pid of await netnsPids(ns)) signal(pid, 'SIGKILL');
  if (await until(async () => (await netnsPids(ns)).length === 0, 5000)) return;
  throw new Error(`processes still in namespace ${ns} after SIGKILL: ${(await netnsPids(ns)).join(' ')}`);
}

async function forwarding(veth: string): Promise<boolean> {
  const r = await cmd('ip', ['-j', '-d', 'link', 'show', 'dev', veth]);
  if (r.code !== 0) return false;
  const [link] = JSON.parse(r.stdout) as { operstate?: string; linkinfo?: { info_slave_data?: { state?: string } } }[];
  return link?.linkinfo?.info_slave_data?.state === 'forwarding' && link.operstate === 'UP';
}

const OUTPUT_LIMIT = 256 * 1024;

/**
 * Creates the fleet network of `hosts` namespaces; its removal is registered
 * with t.after before anything is created, so a failure halfway through
 * creation, or later in the test, still removes all of it.
 */
export async function createFleetNet(t: AfterHook, hosts: number): Promise<FleetNet> {
  if (!Number.isInteger(hosts) || hosts < 1 || hosts > 200) throw new Error(`hosts must be 1..200, not ${hosts}`);
  const id = randomBytes(3).toString('hex');
  const bridge = `hb${id}`;
  const list: FleetHost[] = [];
  const children = new Set<ChildProcess>();
  let cleaning: Promise<void> | undefined;

  // Names are known before anything exists: cleanup removes whatever of them was made.
  const planned = Array.from({ length: hosts }, (_, k) => ({ ns: `herd-${id}-${k + 1}`, veth: `hv${id}-${k + 1}` }));

  const cleanup = (): Promise<void> => {
    cleaning ??= (async () => {
      const errors: unknown[] = [];
      const attempt = async (what: () => Promise<void>) => {
        try {
          await what();
        } catch (err) {
          errors.push(err);
        }
      };
      // The processes this run started, then anything else in its namespaces (a daemon's children, an orphan).
      for (const child of children) if (child.exitCode === null && child.signalCode === null && child.pid) signal(child.pid, 'SIGTERM');
      await Promise.all(planned.map(({ ns }) => attempt(() => killNamespace(ns, 'SIGTERM', 5000))));
      await attempt(async () => {
        const open = [...children].filter((c) => c.exitCode === null && c.signalCode === null);
        const closed = await until(async () => open.every((c) => c.exitCode !== null || c.signalCode !== null), 5000);
        if (!closed) {
          for (const c of open) if (c.pid) signal(c.pid, 'SIGKILL');
          throw new Error(`processes started in the fleet network did not end: ${open.map((c) => c.pid).join(' ')}`);
        }
      });
      for (const { veth } of planned) await attempt(() => ipGone(['link', 'del', veth]));
      for (const { ns } of planned) await attempt(() => ipGone(['netns', 'del', ns]));
      await attempt(() => ipGone(['link', 'del', bridge]));
      if (errors.length > 0) throw new AggregateError(errors, `fleet network ${id}: cleanup failed: ${errors.map(String).join('; ')}`);
    })();
    return cleaning;
  };
  t.after(cleanup);

  const subnet = await pickSubnet();
  const base = subnet.split('.').slice(0, 3).join('.');
  const bridgeAddress = `${base}.1`;

  await ip(['link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  await ip(['addr', 'add', `${bridgeAddress}/24`, 'dev', bridge]);
  await ip(['link', 'set', bridge, 'up']);
  for (const [k, { ns, veth }] of planned.entries()) {
    const index = k + 1;
    const address = `${base}.${10 + index}`;
    await ip(['netns', 'add', ns]);
    await ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    await ip(['link', 'set', veth, 'master', bridge]);
    await ip(['link', 'set', veth, 'up']);
    await ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    await ip(['-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    await ip(['-n', ns, 'link', 'set', 'eth0', 'up']);
    await ip(['-n', ns, 'route', 'add', 'default', 'via', bridgeAddress]);
    list.push({ name: `host${index}`, ns, address, index, veth });
  }
  for (const h of list) {
    if (!(await until(() => forwarding(h.veth), 10_000))) throw new Error(`bridge port ${h.veth} of ${h.ns} did not come up`);
  }

  const host = (ref: HostRef): FleetHost => {
    const name = typeof ref === 'string' ? ref : ref.ns;
    const found = list.find((h) => h.ns === name || h.name === name);
    if (!found) throw new Error(`${name} is not a host of fleet network ${id}`);
    return found;
  };

  const exec = (ref: HostRef, file: string, args: string[] = [], opts: SpawnOptions = {}): FleetChild => {
    const { ns } = host(ref);
    // `ip netns exec` execs the command itself (no fork): child.pid is the command's pid.
    const child = spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    let output = '';
    const collect = (c: Buffer | string) => {
      output += c.toString();
      if (output.length > OUTPUT_LIMIT) output = output.slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    children.add(child);
    child.on('close', () => children.delete(child));
    // A spawn error (ENOENT of ip) is reported as 'error': without a listener it would throw.
    child.on('error', (err) => collect(`\n[spawn error] ${String(err)}\n`));
    return Object.assign(child, { output: () => output });
  };

  const run = (ref: HostRef, file: string, args: string[] = [], opts: RunOptions = {}): Promise<RunResult> => {
    const { input, timeoutMs = 30_000, ...spawnOpts } = opts;
    return new Promise((resolve, reject) => {
      const child = exec(ref, file, args, { ...spawnOpts, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`${file} ${args.join(' ')} in ${host(ref).ns} did not end within ${timeoutMs} ms; output: ${child.output()}`));
      }, timeoutMs);
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.on('close', (code, sig) => {
        clearTimeout(timer);
        resolve({ code, signal: sig, stdout, stderr });
      });
      if (input !== undefined) child.stdin?.end(input);
    });
  };

  return {
    id,
    subnet,
    prefixLength: 24,
    bridge,
    bridgeAddress,
    hosts: list,
    host,
    exec,
    run,
    pids: (ref) => netnsPids(host(ref).ns),
    kill: (ref, opts = {}) => killNamespace(host(ref).ns, opts.signal ?? 'SIGTERM', opts.graceMs ?? 5000),
    disconnect: async (ref) => {
      await ip(['link', 'set', host(ref).veth, 'down']);
    },
    reconnect: async (ref) => {
      const h = host(ref);
      await ip(['link', 'set', h.veth, 'up']);
      if (!(await until(() => forwarding(h.veth), 10_000))) throw new Error(`bridge port ${h.veth} of ${h.ns} did not come back`);
    },
    cleanup,
  };
}
