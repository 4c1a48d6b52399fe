/*
 * The client is Node's own WebSocket (undici), global from Node 22 on, rather
 * than one of herd's: nothing of the protocol to maintain here. Its first use
 * loads undici into the supervisor, once: 25-45 ms and 4-5 MB of RSS measured
 * on Node 22, 24 and 26 (a stack capture then takes 80-100 ms, 10-20 ms more
 * than the hand-written client it replaced). Only the `error` event is relied
 * on when a connection fails: Node 20 and 22 fire no `close` after it. Node 20
 * has the client behind --experimental-websocket, which `herd start` gives its
 * daemon.
 */

export interface InspectableProcess {
  openInspector(timeoutMs: number): Promise<string | null>;
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

/**
 * One conversation with a worker's V8 inspector over its WebSocket (Chrome
 * DevTools Protocol): commands answered by id, events by method. What the
 * stall watchdog's stack capture, CPU profiles and heap snapshots share.
 * Nothing here outlives `close()`; a connection that drops fails every
 * command still waiting, at once.
 */
export class InspectorSession {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (result: unknown) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private readonly listeners = new Map<string, Set<(params: Record<string, unknown>) => void>>();
  private closedBecause: string | null = null;
  private readonly closedWaiters: ((reason: string) => void)[] = [];

  private constructor(private readonly ws: WebSocket) {
    ws.addEventListener('message', (event: MessageEvent) => this.onMessage(event));
    const gone = () => this.failAll('the inspector connection closed');
    ws.addEventListener('close', gone);
    // Node 20 and 22 fire no `close` after `error`.
    ws.addEventListener('error', gone);
  }

  /**
   * Open the worker's inspector (SIGUSR1 through its host) and connect to it,
   * both within `timeoutMs`. Rejects with the reason: no WebSocket client in
   * this Node, the inspector did not open, or the handshake failed.
   */
  static async open(proc: InspectableProcess, timeoutMs: number): Promise<InspectorSession> {
    const deadline = Date.now() + timeoutMs;
    const left = () => Math.max(1, deadline - Date.now());
    // Checked before the worker is signalled, so that no port opens for nothing.
    const missing = noWebSocket();
    if (missing) throw new Error(`cannot connect to the inspector: ${missing}`);
    const url = await proc.openInspector(left());
    if (url === null) throw new Error(`the inspector did not open within ${timeoutMs}ms`);
    try {
      return new InspectorSession(await openWebSocket(url, left()));
    } catch (err) {
      throw new Error(`cannot connect to the inspector: ${(err as Error).message}`);
    }
  }

  /** Send a command; resolves with its result, rejects with the inspector's error or after `timeoutMs`. */
  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<T> {
    if (this.closedBecause) return Promise.reject(new Error(`${method}: ${this.closedBecause}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${method}: no answer from the inspector within ${timeoutMs}ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve: resolve as (r: unknown) => void, reject, timer });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** Call `handler` with the params of every `method` event until `close()`; returns the way to stop. */
  on(method: string, handler: (params: Record<string, unknown>) => void): () => void {
    let set = this.listeners.get(method);
    if (!set) this.listeners.set(method, (set = new Set()));
    set.add(handler);
    return () => set.delete(handler);
  }

  /** Resolves with the params of the next `method` event, or rejects after `timeoutMs`. */
  next(method: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${method} from the inspector within ${timeoutMs}ms`));
      }, timeoutMs);
      const off = this.on(method, (params) => {
        clearTimeout(timer);
        off();
        resolve(params);
      });
    });
  }

  /** Resolves with the reason once the session ends: closed here, or the connection dropped (the worker exited). */
  whenClosed(): Promise<string> {
    if (this.closedBecause) return Promise.resolve(this.closedBecause);
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  close(): void {
    this.failAll('the inspector session was closed');
    this.ws.close();
  }

  private onMessage(event: MessageEvent): void {
    if (typeof event.data !== 'string') return;
    let message: { id?: number; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { message?: string } };
    try {
      message = JSON.parse(event.data) as typeof message;
    } catch {
      return;
    }
    if (typeof message.id === 'number') {
      const waiter = this.waiting.get(message.id);
      if (!waiter) return;
      this.waiting.delete(message.id);
      clearTimeout(waiter.timer);
      if (message.error) waiter.reject(new Error(`the inspector refused: ${message.error.message ?? JSON.stringify(message.error)}`));
      else waiter.resolve(message.result ?? {});
      return;
    }
    if (typeof message.method !== 'string') return;
    for (const handler of [...(this.listeners.get(message.method) ?? [])]) handler(message.params ?? {});
  }

  private failAll(reason: string): void {
    if (this.closedBecause) return;
    this.closedBecause = reason;
    for (const [id, waiter] of this.waiting) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(reason));
      this.waiting.delete(id);
    }
    for (const waiter of this.closedWaiters.splice(0)) waiter(reason);
  }
}
