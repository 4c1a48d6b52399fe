// An app host (src/shim/appHost.ts) with a raw daemon end, for the unit
// tests of the host and of the daemon <-> host protocol.
import type { LogLine, LogSink } from '../../src/logs/logSink';
import type { DaemonToShim, ShimToDaemon, SpawnPlan } from '../../src/protocol/shim';
import { AppHost } from '../../src/shim/appHost';
import { memoryLink } from '../../src/shim/link';
import { eventually } from '../helpers';

/** A log sink that keeps the lines. */
export function memorySink(): LogSink & { lines: LogLine[]; configured: string[] } {
  const lines: LogLine[] = [];
  const configured: string[] = [];
  return {
    dir: null,
    lines,
    configured,
    configure: (app) => void configured.push(app),
    write: (line) => void lines.push(line),
    subscribe: () => () => {},
    dropped: () => 0,
    flush: () => Promise.resolve([]),
    closeApp: () => {},
    close: () => Promise.resolve(),
  };
}

/** A worker without the agent: `node -e <code>`. */
export function execPlan(code: string, over: Partial<SpawnPlan> = {}): SpawnPlan {
  return {
    app: 'api',
    file: process.execPath,
    args: ['-e', code],
    env: { PATH: process.env.PATH ?? '' },
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
    hasAgent: false,
    inheritForkSockets: false,
    accessFd: null,
    readiness: { waitReady: false, watchListening: false, listenTimeout: 5000 },
    maxLineLength: 16 * 1024,
    killTimeout: 2000,
    ...over,
  };
}

/** An AppHost with a raw daemon end that records what the host sends. */
export function rawHost() {
  const { daemon, host } = memoryLink();
  const logs = memorySink();
  const appHost = new AppHost('api', host, logs);
  const received: ShimToDaemon[] = [];
  daemon.onMessage((m) => void received.push(m));
  let id = 0;
  const request = async (message: Record<string, unknown> & { type: string }): Promise<Extract<ShimToDaemon, { type: 'reply' }>> => {
    const mine = ++id;
    daemon.send({ ...message, id: mine } as unknown as DaemonToShim);
    return eventually(() => received.find((m): m is Extract<ShimToDaemon, { type: 'reply' }> => m.type === 'reply' && m.id === mine), 5000, `reply ${mine}`);
  };
  return { daemon, appHost, logs, received, request };
}

