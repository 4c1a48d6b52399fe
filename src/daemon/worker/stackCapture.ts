/**
 * Where a stalled worker is stuck, read through V8's inspector. A diagnostic
 * report or a signal handler needs the blocked JS thread; the inspector does
 * not: SIGUSR1 makes Node open it on its own thread (workers run with
 * --inspect-port=0, so it picks a free port on 127.0.0.1 and prints the URL
 * on stderr), and `Debugger.pause` interrupts even a busy loop. Everything is
 * time-boxed: the worker is killed right after, stack or no stack.
 *
 * The client is Node's own WebSocket (undici), global from Node 22 on, rather
 * than one of herd's: nothing of the protocol to maintain here. Its first use
 * loads undici into the supervisor, once: 25-45 ms and 4-5 MB of RSS measured
 * on Node 22, 24 and 26 (a capture then takes 80-100 ms, 10-20 ms more than the
 * hand-written client it replaced). Only the `error` event is relied on when a
 * connection fails: Node 20 and 22 fire no `close` after it. Node 20 has the
 * client behind --experimental-websocket, which `herd start` gives its daemon.
 */
export interface StackCapture {
  /** Innermost first, like an Error stack: 'at fn (file:line:column)'. */
  frames: string[];
  /** Why there are no frames. */
  error: string | null;
}

export interface InspectableProcess {
  openInspector(timeoutMs: number): Promise<string | null>;
}

export interface CallFrame {
  functionName: string;
  /** Often empty: the script's URL comes from its Debugger.scriptParsed event. */
  url: string;
  location: { scriptId: string; lineNumber: number; columnNumber: number };
}

const MAX_FRAMES = 20;

export function formatFrame(frame: CallFrame): string {
  const where = `${frame.url || '<anonymous>'}:${frame.location.lineNumber + 1}:${frame.location.columnNumber + 1}`;
  return frame.functionName ? `at ${frame.functionName} (${where})` : `at ${where}`;
}

/** Why this Node cannot open a WebSocket, or null. */
function noWebSocket(): string | null {
  // `in`, not typeof: reading the global is what loads undici.
  return 'WebSocket' in globalThis ? null : `Node.js ${process.version} has no WebSocket client (Node 20 needs --experimental-websocket; Node 22 and later have it)`;
}

/** Resolves once the WebSocket is open; rejects on a failed handshake or after `timeoutMs`. */
export function openWebSocket(url: string, timeoutMs: number): Promise<WebSocket> {
  const missing = noWebSocket();
  if (missing) return Promise.reject(new Error(missing));
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const fail = (reason: string) => {
      clearTimeout(timer);
      // Rejected first: closing a connecting socket fires its error event at once.
      reject(new Error(reason));
      ws.close();
    };
    const timer = setTimeout(() => fail(`no WebSocket handshake within ${timeoutMs}ms`), timeoutMs);
    ws.addEventListener('open', () => {
      clearTimeout(timer);
      resolve(ws);
    }, { once: true });
    // Node 24 and 26 give the event no message; the usual causes are these.
    ws.addEventListener('error', () => fail('the WebSocket handshake failed (the port refused it, or no WebSocket endpoint answered)'), { once: true });
  });
}

export async function captureStack(proc: InspectableProcess, timeoutMs: number): Promise<StackCapture> {
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  // Checked first, so that no inspector port opens for nothing.
  const missing = noWebSocket();
  if (missing) return { frames: [], error: `cannot connect to the inspector: ${missing}` };
  const url = await proc.openInspector(left());
  if (url === null) return { frames: [], error: `the inspector did not open within ${timeoutMs}ms` };
  let ws: WebSocket;
  try {
    ws = await openWebSocket(url, left());
  } catch (err) {
    return { frames: [], error: `cannot connect to the inspector: ${(err as Error).message}` };
  }
  try {
    return await new Promise<StackCapture>((resolve) => {
      const timer = setTimeout(() => resolve({ frames: [], error: `the worker did not pause within ${timeoutMs}ms` }), left());
      // Debugger.enable announces every script, with the URL the frames refer to by id.
      const urls = new Map<string, string>();
      ws.addEventListener('message', (event: MessageEvent) => {
        if (typeof event.data !== 'string') return;
        let message: { method?: string; params?: { callFrames?: CallFrame[]; scriptId?: string; url?: string } };
        try {
          message = JSON.parse(event.data) as typeof message;
        } catch {
          return;
        }
        if (message.method === 'Debugger.scriptParsed' && message.params?.scriptId) {
          urls.set(message.params.scriptId, message.params.url ?? '');
        }
        if (message.method !== 'Debugger.paused') return;
        clearTimeout(timer);
        const frames = (message.params?.callFrames ?? []).slice(0, MAX_FRAMES)
          .map((f) => formatFrame({ ...f, url: f.url || (urls.get(f.location.scriptId) ?? '') }));
        resolve({ frames, error: null });
      });
      ws.send(JSON.stringify({ id: 1, method: 'Debugger.enable' }));
      ws.send(JSON.stringify({ id: 2, method: 'Debugger.pause' }));
    });
  } finally {
    ws.close();
  }
}
