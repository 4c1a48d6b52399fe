import * as net from 'node:net';
import { HerdError, type ErrorData } from '../errors';
import type { LogLine } from '../logs/format';
import type { ControlReply, ControlRequest, RequestEnvelope, RequestType, ResultOf, RequestOf } from '../protocol/control';
import { encode, LineDecoder } from '../protocol/framing';
import { PROTOCOL_VERSION } from '../protocol/version';

interface Pending {
  resolve: (data: unknown) => void;
  reject: (err: Error) => void;
  progress: ((message: string) => void) | undefined;
  onLine: ((line: LogLine) => void) | undefined;
  onChunk: ((data: string) => void) | undefined;
}

/** One connection to the daemon's control socket; requests may overlap. */
export class Connection {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private closedError: Error | null = null;

  private constructor(private readonly socket: net.Socket) {
    const decoder = new LineDecoder();
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      for (const line of decoder.push(chunk)) this.onReply(JSON.parse(line) as ControlReply);
    });
    const fail = (err: Error) => {
      this.closedError = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    socket.on('error', (err) => fail(err));
    socket.on('close', () => fail(new HerdError('HERD_ERR_DAEMON_UNREACHABLE', { socket: '(control socket)', reason: 'the daemon closed the connection' })));
  }

  static open(socketPath: string): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath);
      socket.once('connect', () => {
        socket.removeListener('error', reject);
        resolve(new Connection(socket));
      });
      socket.once('error', reject);
    });
  }

  /** `onLine` receives the lines of a streaming request (`logs`); `onChunk` the pieces of a file one produces, in order. */
  request<T extends RequestType>(request: RequestOf<T>, progress?: (message: string) => void, onLine?: (line: LogLine) => void, onChunk?: (data: string) => void): Promise<ResultOf[T]> {
    if (this.closedError) return Promise.reject(this.closedError);
    const id = this.nextId++;
    const envelope: RequestEnvelope = { v: PROTOCOL_VERSION, id, request: request as ControlRequest };
    return new Promise<ResultOf[T]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (d: unknown) => void, reject, progress, onLine, onChunk });
      this.socket.write(encode(envelope));
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private onReply(reply: ControlReply): void {
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    if (reply.kind === 'progress') {
      pending.progress?.(reply.message);
      return;
    }
    if (reply.kind === 'log') {
      pending.onLine?.(reply.line);
      return;
    }
    if (reply.kind === 'chunk') {
      pending.onChunk?.(reply.data);
      return;
    }
    this.pending.delete(reply.id);
    if (reply.ok) pending.resolve(reply.data);
    else pending.reject(HerdError.fromData(reply.error as ErrorData));
  }
}
