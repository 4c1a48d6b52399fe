import { InspectorSession, type InspectableProcess } from './inspectorSession';

/**
 * Where a stalled worker is stuck, read through V8's inspector. A diagnostic
 * report or a signal handler needs the blocked JS thread; the inspector does
 * not: SIGUSR1 makes Node open it on its own thread (workers run with
 * --inspect-port=0, so it picks a free port on 127.0.0.1 and prints the URL
 * on stderr), and `Debugger.pause` interrupts even a busy loop. Everything is
 * time-boxed: the worker is killed right after, stack or no stack.

 * The connection is an InspectorSession (./inspectorSession).
 */
export interface StackCapture {
  /** Innermost first, like an Error stack: 'at fn (file:line:column)'. */
  frames: string[];
  /** Why there are no frames. */
  error: string | null;
}

export type { InspectableProcess } from './inspectorSession';

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

export async function captureStack(proc: InspectableProcess, timeoutMs: number): Promise<StackCapture> {
  const deadline = Date.now() + timeoutMs;
  let session: InspectorSession;
  try {
    session = await InspectorSession.open(proc, timeoutMs);
  } catch (err) {
    return { frames: [], error: (err as Error).message };
  }
  try {
    // Debugger.enable announces every script, with the URL the frames refer to by id.
    const urls = new Map<string, string>();
    session.on('Debugger.scriptParsed', (p) => {
      if (typeof p.scriptId === 'string') urls.set(p.scriptId, typeof p.url === 'string' ? p.url : '');
    });
    const paused = session.next('Debugger.paused', Math.max(1, deadline - Date.now()));
    session.send('Debugger.enable', {}, timeoutMs).catch(() => {});
    session.send('Debugger.pause', {}, timeoutMs).catch(() => {});
    let params: Record<string, unknown>;
    try {
      params = await paused;
    } catch {
      return { frames: [], error: `the worker did not pause within ${timeoutMs}ms` };
    }
    const frames = ((params.callFrames ?? []) as CallFrame[]).slice(0, MAX_FRAMES)
      .map((f) => formatFrame({ ...f, url: f.url || (urls.get(f.location.scriptId) ?? '') }));
    return { frames, error: null };
  } finally {
    session.close();
  }
}
