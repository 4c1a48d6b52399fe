import * as fs from 'node:fs';
import * as net from 'node:net';
import { HerdError, toErrorData } from '../../errors';
import type { LogLine } from '../../logs/format';
import type { ControlReply, ControlRequest, RequestEnvelope, RequestOf, RequestType, ResultOf } from '../../protocol/control';
import { encode, LineDecoder } from '../../protocol/framing';
import { PROTOCOL_VERSION } from '../../protocol/version';
import { requestProblem } from './requestShape';
import { releaseHeld } from '../../util/heldServer';

/** For requests that stream (`logs`): send lines to this client, learn when it leaves. */
export interface ReplyStream {
  /** False when the line was skipped because the client reads too slowly. */
  line(line: LogLine): boolean;
  /**
   * Send the next piece of a file; resolves once the client has read enough
   * that more may follow (a slow reader slows the sender, nothing is skipped).
   * Rejects when the client has gone, or has read nothing for CHUNK_DRAIN_MS
   * (then its connection is closed).
   */
  chunk(data: string): Promise<void>;
  /** Resolves when the client's connection closes. */
  readonly closed: Promise<void>;
}

export type Handler<T extends RequestType> = (request: RequestOf<T>, progress: (message: string) => void, stream: ReplyStream) => Promise<ResultOf[T]>;
/** A new request type without a handler does not compile. */
export type HandlerTable = { [T in RequestType]: Handler<T> };

// Types every version must understand, so an old daemon can always be
// identified and stopped by a newer CLI.
const VERSIONLESS: ReadonlySet<RequestType> = new Set(['hello', 'kill', 'update']);
// A follower that does not read is skipped past this much unread output,
// so it cannot grow the daemon's memory.
const MAX_UNREAD = 4 * 1024 * 1024;
/**
 * A connection that has sent part of a line, or nothing at all since it
 * connected, for this long is closed: the CLI writes a whole request at once,
 * so only a stuck or hostile peer waits this long mid-line.
 */
const HALF_SENT_TIMEOUT_MS = 10_000;
/**
 * Past this many connections the daemon closes the longest-idle one (no
 * request in flight) for each new one, instead of refusing: the owner's CLI
 * always gets in, and idle connections cannot pile up without bound.
 */
const MAX_CONNECTIONS = 256;
const SWEEP_MS = 1000;
/** A client that is sent a file and reads none of it for this long (a stopped CLI) is let go. */
const CHUNK_DRAIN_MS = 30_000;

interface ClientState {
  /** Requests received whose result is not sent yet (a `logs --follow` stays in flight). */
  inFlight: number;
  /** When the unfinished line began, or when the connection opened while nothing came yet; null when between requests. */
  waitingSince: number | null;
  lastActive: number;
}

/** The daemon's private control socket: newline-delimited JSON, one result per request id. */
export class ControlServer {
  private server: net.Server;
  private readonly sockets = new Map<net.Socket, ClientState>();
  private readonly sweeper: NodeJS.Timeout;
  /** Requests wait for this before they run (a new daemon adopting its apps). */
  private gate: Promise<unknown> = Promise.resolve();
  private refusal: HerdError | null = null;

  constructor(private readonly handlers: HandlerTable, private readonly limits = { halfSentMs: HALF_SENT_TIMEOUT_MS, maxConnections: MAX_CONNECTIONS }) {
    this.server = net.createServer((socket) => this.accept(socket));
    this.sweeper = setInterval(() => this.sweep(Date.now()), SWEEP_MS);
    this.sweeper.unref();
  }

  /** Connections open now (for tests and describe). */
  get connections(): number {
    return this.sockets.size;
  }

  /** The listening server, for `herd update` to hand to the next daemon. */
  get listening(): net.Server {
    return this.server;
  }

  /**
   * Serve on the socket the daemon this one replaces listened on (`herd
   * update`): the server received over IPC listens already. It is used as
   * it is: a second server on a Unix socket's fd cannot be made (libuv
   * watches the fd once).
   */
  async listenOn(received: net.Server): Promise<void> {
    this.server = received;
    received.on('connection', (socket: net.Socket) => this.accept(socket));
    received.on('error', () => {});
    for (const socket of releaseHeld(received)) this.accept(socket);
  }

  async listen(socketPath: string): Promise<void> {
    // Nobody else may connect, whatever the umask: created 0600 from the start.
    const oldMask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(socketPath, () => {
          this.server.off('error', reject);
          resolve();
        });
      });
    } finally {
      process.umask(oldMask);
    }
    fs.chmodSync(socketPath, 0o600);
  }

  /** Stop accepting; let replies already written reach their clients, then close. */
  close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const s of this.sockets.keys()) {
      s.end();
      setTimeout(() => s.destroy(), 1000).unref();
    }
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    const now = Date.now();
    if (this.sockets.size >= this.limits.maxConnections) this.evictIdle();
    const state: ClientState = { inFlight: 0, waitingSince: now, lastActive: now };
    this.sockets.set(socket, state);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.setEncoding('utf8');
    const decoder = new LineDecoder();
    const onData = (chunk: string) => {
      let lines: string[];
      try {
        lines = decoder.push(chunk);
      } catch (err) {
        // Stop reading at once: whatever else the peer sends is never buffered or scanned.
        socket.off('data', onData);
        socket.pause();
        this.send(socket, { v: PROTOCOL_VERSION, id: 0, kind: 'result', ok: false, error: new HerdError('HERD_ERR_BAD_REQUEST', { reason: (err as Error).message }).toData() });
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
        return;
      }
      const at = Date.now();
      state.lastActive = at;
      if (lines.length > 0) state.waitingSince = null;
      if (decoder.pending > 0) state.waitingSince ??= at;
      for (const line of lines) {
        state.inFlight++;
        void this.handle(socket, line).finally(() => {
          state.inFlight--;
          state.lastActive = Date.now();
        });
      }
    };
    socket.on('data', onData);
  }

  /** Close connections stuck mid-line (or silent since they connected) past the timeout. */
  private sweep(now: number): void {
    for (const [socket, state] of this.sockets) {
      if (state.waitingSince !== null && now - state.waitingSince > this.limits.halfSentMs) {
        this.sockets.delete(socket);
        socket.destroy();
      }
    }
  }

  /** Make room for a new connection: close the longest-idle one that has no request in flight. */
  private evictIdle(): void {
    let oldest: [net.Socket, ClientState] | null = null;
    for (const entry of this.sockets) {
      if (entry[1].inFlight === 0 && (oldest === null || entry[1].lastActive < oldest[1].lastActive)) oldest = entry;
    }
    if (oldest) {
      this.sockets.delete(oldest[0]);
      oldest[0].destroy();
    }
  }

  private async handle(socket: net.Socket, line: string): Promise<void> {
    let envelope: RequestEnvelope;
    try {
      envelope = JSON.parse(line) as RequestEnvelope;
    } catch {
      this.fail(socket, 0, new HerdError('HERD_ERR_BAD_REQUEST', { reason: 'not JSON' }));
      return;
    }
    const id = typeof envelope?.id === 'number' ? envelope.id : 0;
    const problem = requestProblem(envelope?.request);
    if (problem) {
      this.fail(socket, id, new HerdError('HERD_ERR_BAD_REQUEST', { reason: problem }));
      return;
    }
    const request = envelope.request;
    if (envelope.v !== PROTOCOL_VERSION && !VERSIONLESS.has(request.type)) {
      this.fail(socket, id, new HerdError('HERD_ERR_PROTOCOL_VERSION', { daemon: PROTOCOL_VERSION, cli: String(envelope.v) }));
      return;
    }
    const progress = (message: string) => this.send(socket, { v: PROTOCOL_VERSION, id, kind: 'progress', message });
    const stream: ReplyStream = {
      line: (l) => {
        if (socket.writableLength > MAX_UNREAD) return false;
        this.send(socket, { v: PROTOCOL_VERSION, id, kind: 'log', line: l });
        return true;
      },
      chunk: (data) => {
        if (socket.destroyed || !socket.writable) return Promise.reject(new Error('the client went away'));
        this.send(socket, { v: PROTOCOL_VERSION, id, kind: 'chunk', data });
        return socket.writableLength <= MAX_UNREAD ? Promise.resolve() : drained(socket, CHUNK_DRAIN_MS);
      },
      closed: closedPromise(socket),
    };
    try {
      const data = await this.dispatch(request, progress, stream);
      this.send(socket, { v: PROTOCOL_VERSION, id, kind: 'result', ok: true, data });
    } catch (err) {
      this.fail(socket, id, err);
    }
  }

  /** Requests received from now on run once `until` settles (those running already go on). */
  holdUntil(until: Promise<unknown>): void {
    this.gate = until.catch(() => undefined);
  }

  /** Every request from now on (held ones too) fails with `error`: this daemon was replaced. */
  refuseAll(error: HerdError): void {
    this.refusal = error;
  }

  private async dispatch(request: ControlRequest, progress: (message: string) => void, stream: ReplyStream): Promise<unknown> {
    await this.gate;
    if (this.refusal) throw this.refusal;
    const handler = this.handlers[request.type] as Handler<typeof request.type>;
    return handler(request as never, progress, stream);
  }

  private fail(socket: net.Socket, id: number, err: unknown): void {
    this.send(socket, { v: PROTOCOL_VERSION, id, kind: 'result', ok: false, error: toErrorData(err) });
  }

  private send(socket: net.Socket, reply: ControlReply): void {
    if (!socket.destroyed && socket.writable) socket.write(encode(reply));
  }
}

/**
 * Resolves when the socket's buffer drained; rejects when it closed first, or
 * when it did not drain within `timeoutMs` (then the socket is destroyed).
 */
export function drained(socket: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      done(new Error(`the client read nothing for ${Math.round(timeoutMs / 1000)} s`));
      socket.destroy();
    }, timeoutMs);
    timer.unref();
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off('drain', onDrain);
      socket.off('close', onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => done();
    const onClose = () => done(new Error('the client went away'));
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}

/** One promise per connection: a listener per request would pile up on a client that sends many. */
const closedOf = new WeakMap<net.Socket, Promise<void>>();
function closedPromise(socket: net.Socket): Promise<void> {
  let closed = closedOf.get(socket);
  if (!closed) {
    closed = new Promise((resolve) => (socket.destroyed ? resolve() : socket.once('close', () => resolve())));
    closedOf.set(socket, closed);
  }
  return closed;
}
