/**
 * Preloaded into every worker with --require. Wires the agent to this
 * process; everything else lives in agent.ts so tests can drive it without a
 * child process.
 */
import cluster from 'node:cluster';
import type * as net from 'node:net';
import { AGENT_CMD, isEnvelope, type AgentToDaemon, type DaemonToAgent } from '../protocol/agent';
import { startAccessLog } from './accessLog';
import { Agent, AGENT_GLOBAL } from './agent';
import { hideAgentFromChildren } from './childProcesses';
import { drainServers, listeningServerCount } from './drain';
import { HttpProbe } from './httpProbe';
import { trackListeningServers } from './listenRegistry';
import { openHandles } from './openHandles';
import { ListenWatch, parseInherited } from './listenWatch';
import { OverloadGuard, type OverloadLimits } from './overload';
import { QueueWorkers, watchBullmq } from './queueWorkers';
import { SelfCluster } from './selfCluster';
import { selfRequest } from './selfRequest';
import { MetricsCollector } from './metrics';
import { Rotation, ROTATION_GLOBAL } from './rotation';

function sendToDaemon(message: AgentToDaemon, handle?: unknown): void {
  if (typeof process.send !== 'function' || !process.connected) return;
  try {
    process.send({ ...message, cmd: AGENT_CMD }, handle as net.Server | undefined);
  } catch {
    // the daemon is gone; nothing to tell
  }
}

// What the daemon told the agent alone; gone from the environment before app code runs.
const settings = {
  overload: process.env.HERD_OVERLOAD,
  accessLog: process.env.HERD_ACCESS_LOG,
  metrics: process.env.HERD_METRICS,
  listenFds: process.env.HERD_LISTEN_FDS,
};
hideAgentFromChildren(process.execArgv, process.env, __filename);

/** The app's `overload` settings, passed by the daemon as JSON in HERD_OVERLOAD. */
function overloadLimits(): OverloadLimits | null {
  const raw = settings.overload;
  if (!raw) return null;
  try {
    return JSON.parse(raw) as OverloadLimits;
  } catch {
    console.error('herd: HERD_OVERLOAD is not JSON; overload shedding is off');
    return null;
  }
}

// Before the app's code: a sticky app's servers are found only through their listen().
trackListeningServers();
// Before the app's code too: a queue app's BullMQ Workers are found as bullmq loads.
const queueWorkers = process.env.HERD_QUEUE_NAME !== undefined ? new QueueWorkers() : null;
if (queueWorkers) watchBullmq(queueWorkers);

/**
 * A fork-mode worker with no listening socket this long after its code
 * loaded (a queue consumer, a cron job) counts as ready.
 */
const SETTLE_MS = 1000;
/** How long a worker whose parent (the app's shim) died may take to finish its requests. */
const ORPHAN_DRAIN_MS = 5000;
// Timers run once the main module's synchronous code is done, so this counts from there.
const settled = new Promise<void>((resolve) => setImmediate(() => setTimeout(resolve, SETTLE_MS).unref()));

const selfCluster = new SelfCluster((how) => sendToDaemon({ type: 'clustersItself', how }), process.argv[1]);
if (cluster.isWorker) selfCluster.watchWorker(settled);
else selfCluster.watchPrimary();

const limits = overloadLimits();
const guard = limits ? new OverloadGuard(limits) : null;

const agent = new Agent(
  {
    send: sendToDaemon,
    onMessage: (handler) => {
      // 'NODE_'-prefixed messages arrive as internalMessage, unseen by the app.
      process.on('internalMessage' as 'message', (message: unknown) => {
        if (isEnvelope<DaemonToAgent>(message)) handler(message);
      });
    },
    hasSignalHandlers: (signal) => process.listenerCount(signal) > 0,
    raise: (signal) => process.kill(process.pid, signal),
    exit: (code) => process.exit(code),
    release: () => process.channel?.unref(),
    openHandles,
    stopOwnWorkers: (deadline) => {
      if (!selfCluster.forked) return Promise.resolve();
      listenWatch?.closeDetached();
      return selfCluster.stopWorkers(deadline);
    },
    closeQueueWorkers: (deadline) => queueWorkers?.closeAll(deadline) ?? Promise.resolve(null),
  },
  process.env.HERD_APP_NAME ?? '',
  Number(process.env.HERD_WORKER_ID ?? 0),
  drainServers,
  {
    shedStats: () => ({ shed: guard?.shed ?? 0, shedding: guard?.shedding ?? false }),
    listeningServers: listeningServerCount,
    healthCheck: (path, timeoutMs) => selfRequest(path, timeoutMs),
  },
);

(globalThis as Record<symbol, unknown>)[AGENT_GLOBAL] = agent;
// Out of rotation around a heap snapshot (`herd heap`), called through the inspector.
const rotation = new Rotation(() => agent.shuttingDownNow);
rotation.start();
(globalThis as Record<symbol, unknown>)[ROTATION_GLOBAL] = rotation;

// Node writes to a stdout/stderr pipe asynchronously once the pipe is full,
// and process.exit() discards what is still queued: the last lines of a
// crashing worker would be lost. Blocking writes put every line in the pipe
// before the write returns, as for a file; the daemon reads the pipe at once,
// so this costs a flooding worker nothing while the daemon keeps up.
for (const stream of [process.stdout, process.stderr]) {
  const handle = (stream as unknown as { _handle?: { setBlocking?: (on: boolean) => number } })._handle;
  if ((stream as unknown as { _type?: string })._type === 'pipe') handle?.setBlocking?.(true);
}

/** Every consumer of per-request data (metrics, access log) subscribes to this one probe. */
export const probe = new HttpProbe();

// accessLog: true in the app's config: the daemon opened this fd for us.
const accessFd = Number(settings.accessLog);
if (Number.isInteger(accessFd) && accessFd > 2) startAccessLog(probe, accessFd);
// Metrics are on unless the app's config says `metrics: false`; off, nothing
// subscribes to the probe and no timer runs.
if (settings.metrics !== '0' && typeof process.send === 'function') {
  const collector = new MetricsCollector(probe, (report) => sendToDaemon({ type: 'metrics', report }));
  collector.start();
  agent.attachMetrics(collector);
}

// Workers run in their own process group, so nothing else ends them when
// their app's shim (the parent holding the IPC channel) dies: they drain and
// exit. Fork-mode workers do so here. The listener must not keep a worker
// that finished its work alive, hence the unref.
if (!cluster.isWorker && process.channel) {
  process.once('disconnect', () => void agent.shutdown(ORPHAN_DRAIN_MS));
  process.channel.unref();
}
// Node's cluster child exits at once when its channel to the primary closes
// (lib/internal/cluster/child.js: process.once('disconnect', () =>
// process.exit(0)) unless the primary asked for it), which drops every
// request in flight. That channel goes to the app's shim, which closes it only
// by dying (a herd bug, the OOM killer): drain instead, like a fork-mode
// worker. Node installs that listener before preload modules run
// (pre_execution.js: initializeClusterIPC), so it is the only one here; it
// is replaced, which no public API offers.
if (cluster.isWorker) {
  for (const listener of process.rawListeners('disconnect')) process.removeListener('disconnect', listener as () => void);
  process.once('disconnect', () => {
    // As Node's own listener: the worker's 'disconnect' event, and nothing more when the app asked for it (worker.disconnect()).
    cluster.worker?.emit('disconnect');
    if (cluster.worker?.exitedAfterDisconnect !== true) void agent.shutdown(ORPHAN_DRAIN_MS);
  });
}
// A reader that died (the shim was killed) turns the next write to stdout or
// stderr into EPIPE, an uncaught exception that would end an app with no
// handler of its own in the middle of its drain; those lines have nowhere to go.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {});

// Fork mode: the daemon binds nothing, so the agent reports what the app
// listens on (readiness, `herd describe`) and passes its sockets on.
let listenWatch: ListenWatch | null = null;
if (!cluster.isWorker && typeof process.send === 'function') {
  const watch = new ListenWatch(parseInherited(settings.listenFds), (l) =>
    sendToDaemon({ type: 'listening', address: l.address, key: l.key }, l.key !== null ? l.handle : undefined));
  watch.start();
  listenWatch = watch;
  // Node publishes no end for a listen() whose host lookup failed or that threw
  // after it began: the wait for listens in progress is bounded.
  const giveUpAt = Date.now() + SETTLE_MS + 5000;
  const settle = () => {
    // A listen() still resolving its host name is about to report.
    if (watch.inProgress && Date.now() < giveUpAt) return void setTimeout(settle, 50).unref();
    watch.sweep();
    // An app with its own cluster serves once its workers listen, however long that takes.
    if (watch.count === 0 && !selfCluster.forked) sendToDaemon({ type: 'settled', afterMs: SETTLE_MS });
  };
  void settled.then(settle);
}
