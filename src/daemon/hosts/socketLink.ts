import * as net from 'node:net';
import { HerdError } from '../../errors';
import { encode, LineDecoder } from '../../protocol/framing';
import { SHIM_PROTOCOL_VERSION, isShimMessage, type DaemonToShim, type ShimToDaemon } from '../../protocol/shim';
import type { DaemonLink } from '../../shim/link';

/** What a shim answers to hello. */
export interface ShimHello {
  pid: number;
  protocol: number;
  app: string;
  version: string;
}

/**
 * The daemon's end of the link to a shim, over its Unix socket. It exists
 * before the connection does (and between two connections): messages sent
 * meanwhile wait, in order, and go out once `connect` has said hello.
 */
export class SocketLink implements DaemonLink {
  private socket: net.Socket | null = null;
  private queue: DaemonToShim[] = [];
  private handler: (message: ShimToDaemon) => void = () => {};
  private closed = false;

  constructor(private readonly app: string) {}

  send(message: DaemonToShim): void {
    if (this.closed) return;
    if (this.socket) this.socket.write(encode(message));
    else this.queue.push(message);
  }

  onMessage(handler: (message: ShimToDaemon) => void): void {
    this.handler = handler;
  }

  close(): void {
    this.closed = true;
    this.queue = [];
    this.socket?.end();
    this.socket = null;
  }

  /**
   * Connect to `path` and say hello; then what waited is sent. `onClose`
   * runs once this connection ends, whoever ended it.
   */
  connect(path: string, hello: { token: string; takeover: boolean }, onClose: () => void): Promise<ShimHello> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(path);
      const decoder = new LineDecoder();
      let greeted = false;
      socket.setEncoding('utf8');
      socket.once('connect', () => {
        socket.write(encode({ type: 'hello', id: 0, protocol: SHIM_PROTOCOL_VERSION, daemonPid: process.pid, ...hello }));
      });
      socket.on('error', (err) => {
        if (!greeted) reject(new HerdError('HERD_ERR_SHIM_UNREACHABLE', { name: this.app, pid: '?', reason: `${path}: ${err.message}` }));
      });
      socket.on('close', () => {
        if (this.socket === socket) this.socket = null;
        if (!greeted) reject(new HerdError('HERD_ERR_SHIM_UNREACHABLE', { name: this.app, pid: '?', reason: `${path}: closed before hello was answered` }));
        else onClose();
      });
      socket.on('data', (chunk: string) => {
        let lines: string[];
        try {
          lines = decoder.push(chunk);
        } catch {
          return void socket.destroy();
        }
        for (const line of lines) {
          let message: unknown;
          try {
            message = JSON.parse(line);
          } catch {
            return void socket.destroy();
          }
          if (!isShimMessage<ShimToDaemon>(message)) continue;
          if (greeted) {
            if (this.socket === socket) this.handler(message);
            continue;
          }
          if (message.type !== 'reply' || message.id !== 0) continue;
          if (!message.ok) {
            socket.destroy();
            return reject(HerdError.fromData(message.error));
          }
          greeted = true;
          if (this.closed) {
            socket.end();
            return reject(new HerdError('HERD_ERR_SHIM_UNREACHABLE', { name: this.app, pid: '?', reason: 'the link was closed meanwhile' }));
          }
          this.socket = socket;
          for (const queued of this.queue.splice(0)) socket.write(encode(queued));
          resolve(message.result as ShimHello);
        }
      });
    });
  }
}
