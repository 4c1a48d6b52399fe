import * as fs from 'node:fs';
import * as path from 'node:path';
import { haproxyBackend } from '../config/fleet';
import { HerdError } from '../errors';
import { HaproxyRuntime } from '../fleet/haproxyRuntime';
import { haproxyConfig, lbTargets, nginxConfig } from '../fleet/lbConfig';
import { LbSync } from '../fleet/lbSync';
import type { FleetView } from '../fleet/status';
import { HERD_VERSION } from '../protocol/version';
import { stringFlag, usage, type ParsedArgs } from './args';
import { withClient, type Command } from './session';

const DEFAULT_SOCKET = '/run/haproxy/admin.sock';
const DEFAULT_PORT = 80;
const SYNC_EVERY_MS = 1000;
/** --once waits this long for a leaving server's sessions to end; a continuous sync tries again each pass instead. */
const ONCE_WAIT_MS = 30_000;

/**
 * `herd lb haproxy <app> [--port P] [--backend B] [--socket S]`: a complete
 * HAProxy config for the app's hosts, from the fleet registry.
 * `herd lb haproxy <app> --sync [--once]`: keep a running HAProxy's backend
 * in step with the registry through its runtime API.
 * `herd lb nginx <app> [--port P] [--static DIR] [--static-prefix /static/]`.
 */
export const lb: Command = async (args) => {
  const [kind, app, ...rest] = args.positionals;
  if (kind !== 'haproxy' && kind !== 'nginx') throw usage(`lb: expected \`herd lb haproxy <app>\` or \`herd lb nginx <app>\`${kind === undefined ? '' : `; got "${kind}"`}`);
  if (app === undefined) throw usage(`lb ${kind}: which app? \`herd lb ${kind} <app>\``);
  if (rest.length > 0) throw usage(`lb ${kind}: unexpected argument "${rest[0]}"`);
  const only = (flags: string[], why: string) => {
    for (const f of flags) if (args.flags[f as keyof ParsedArgs['flags']] !== undefined) throw usage(`lb ${kind}: --${f} ${why}`);
  };
  if (kind === 'nginx') only(['backend', 'socket', 'sync', 'once'], 'is for `herd lb haproxy`');
  else only(['static', 'static-prefix'], 'is for `herd lb nginx`');
  if (args.flags.sync !== true) only(['once'], 'goes with --sync');
  else only(['port'], 'is for the generated config; --sync changes the servers of a running HAProxy');

  const port = portFlag(args);
  const staticDir = kind === 'nginx' ? staticFlag(args) : null;
  const view = await registry();
  const socket = stringFlag(args, 'socket') ?? view.lb?.haproxy.socket ?? DEFAULT_SOCKET;
  const backend = stringFlag(args, 'backend') ?? haproxyBackend(view.lb, app);
  if (!/^[A-Za-z0-9._:-]{1,100}$/.test(backend)) throw usage(`lb haproxy: --backend must be a backend name (letters, digits, '.', '_', ':', '-'); got "${backend}"`);
  if (args.flags.sync === true) return sync(app, socket, backend, args.flags.once === true, view);

  const targets = lbTargets(view, app);
  const source = { url: view.redis.url, version: HERD_VERSION, at: new Date() };
  const text = kind === 'haproxy'
    ? haproxyConfig(targets, { backend, port, socket, source })
    : nginxConfig(targets, { port, staticDir, staticPrefix: prefixFlag(args), source });
  process.stdout.write(text);
  return 0;
};

/** The registry as this host's daemon reads it; unreadable is an error (a config without hosts helps nobody). */
async function registry(): Promise<FleetView> {
  const view = await withClient((c) => c.request({ type: 'fleetStatus' }));
  if (!view.redis.ok) throw new HerdError('HERD_ERR_FLEET_UNSEEN', { url: view.redis.url, reason: view.redis.error ?? 'unknown' });
  return view;
}

async function sync(app: string, socket: string, backend: string, once: boolean, first: FleetView): Promise<number> {
  const runtime = new HaproxyRuntime(socket);
  // Unreachable socket or missing backend: said at once, before any change.
  await runtime.servers(backend);
  const syncer = new LbSync(runtime, backend, once ? ONCE_WAIT_MS : 0);
  const say = (line: string) => process.stdout.write(`${new Date().toISOString()} ${line}\n`);
  let view: FleetView | null = first;
  let stop = false;
  let wake: () => void = () => {};
  const onSignal = () => {
    stop = true;
    wake();
  };
  if (!once) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    say(`syncing HAProxy ${socket} backend ${backend} with the hosts of ${app} in ${first.redis.url}, once a second (Ctrl-C ends)`);
  }
  let lastProblem = '';
  try {
    for (;;) {
      try {
        view ??= await registry();
        const targets = lbTargets(view, app);
        const changes = await syncer.pass(targets, view.hosts);
        for (const c of changes) say(`${backend}/${c.server} ${c.action}: ${c.detail}`);
        if (once) say(`${backend}: ${targets.servers.length} host(s) of ${app} in the registry, ${changes.length} change(s)`);
        lastProblem = '';
      } catch (err) {
        if (once || (err instanceof HerdError && (err.code === 'HERD_ERR_HAPROXY_UNREACHABLE' || err.code === 'HERD_ERR_HAPROXY_BACKEND') && lastProblem === '' && view === first)) throw err;
        // A passing problem (Redis away, HAProxy restarting, no host up): said once, tried again next pass; nothing is removed meanwhile.
        const text = err instanceof HerdError ? `${err.message} [${err.code}]` : String(err);
        if (text !== lastProblem) process.stderr.write(`herd: ${text}\n`);
        lastProblem = text;
      }
      if (once || stop) return 0;
      view = null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SYNC_EVERY_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      if (stop) return 0;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function portFlag(args: ParsedArgs): number {
  const text = stringFlag(args, 'port');
  if (text === undefined) return DEFAULT_PORT;
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > 65535) throw usage(`lb: --port takes the port the balancer listens on (1-65535); got "${text}"`);
  return Number(text);
}

function staticFlag(args: ParsedArgs): string | null {
  const dir = stringFlag(args, 'static');
  if (dir === undefined) return null;
  const abs = path.resolve(dir);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(abs);
  } catch (err) {
    throw new HerdError('HERD_ERR_LB_STATIC', { dir: abs, reason: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message });
  }
  if (!stat.isDirectory()) throw new HerdError('HERD_ERR_LB_STATIC', { dir: abs, reason: 'not a directory' });
  // nginx reads the path unquoted: a space or ';' would end the directive.
  if (/[\s;{}"'$\\]/.test(abs)) throw new HerdError('HERD_ERR_LB_STATIC', { dir: abs, reason: "has a character nginx cannot take unquoted (space, ';', '{', '}', quotes, '$', '\\')" });
  return abs;
}

function prefixFlag(args: ParsedArgs): string {
  const prefix = stringFlag(args, 'static-prefix') ?? '/static/';
  if (!/^\/[A-Za-z0-9._~\-/]*\/$/.test(prefix)) throw usage(`lb nginx: --static-prefix must be a URL path that starts and ends with '/', e.g. /static/; got "${prefix}"`);
  if (stringFlag(args, 'static') === undefined && args.flags['static-prefix'] !== undefined) throw usage('lb nginx: --static-prefix goes with --static DIR');
  return prefix;
}
