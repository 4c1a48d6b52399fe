/**
 * Preloaded into every worker with --require. Wires the agent to this
 * process; everything else lives in agent.ts so tests can drive it without a
 * child process.
 */
import cluster from 'node:cluster';
import { AGENT_CMD, isDaemonMessage, type AgentToDaemon } from '../protocol/agent';
import { Agent, AGENT_GLOBAL } from './agent';
import { HttpProbe } from './httpProbe';
import { MetricsCollector } from './metrics';

function sendToDaemon(message: AgentToDaemon): void {
  if (typeof process.send !== 'function' || !process.connected) return;
  try {
    process.send({ ...message, cmd: AGENT_CMD });
  } catch {
    // the daemon is gone; nothing to tell
  }
}

const agent = new Agent(
  {
    send: sendToDaemon,
    onMessage: (handler) => {
      // 'NODE_'-prefixed messages arrive as internalMessage, unseen by the app.
      process.on('internalMessage' as 'message', (message: unknown) => {
        if (isDaemonMessage(message)) handler(message);
      });
    },
    hasSignalHandlers: (signal) => process.listenerCount(signal) > 0,
    raise: (signal) => process.kill(process.pid, signal),
    exit: (code) => process.exit(code),
  },
  process.env.HERD_APP_NAME ?? '',
  Number(process.env.HERD_WORKER_ID ?? 0),
);

(globalThis as Record<symbol, unknown>)[AGENT_GLOBAL] = agent;

/** Every consumer of per-request data (metrics, access log) subscribes to this one probe. */
export const probe = new HttpProbe();

// Metrics are on unless the app's config says `metrics: false`; off, nothing
// subscribes to the probe and no timer runs.
if (process.env.HERD_METRICS !== '0' && typeof process.send === 'function') {
  const collector = new MetricsCollector(probe, (report) => sendToDaemon({ type: 'metrics', report }));
  collector.start();
  agent.attachMetrics(collector);
}

// Workers run in their own process group, so nothing else ends them when the
// supervisor dies. Cluster workers exit on disconnect through Node's own
// cluster code; fork-mode workers drain and exit here. The listener must not
// keep a worker that finished its work alive, hence the unref.
if (!cluster.isWorker && process.channel) {
  process.once('disconnect', () => void agent.shutdown(5000));
  process.channel.unref();
}
