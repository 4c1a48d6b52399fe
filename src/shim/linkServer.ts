import * as fs from 'node:fs';
import * as net from 'node:net';
import { HerdError } from '../errors';
import { encode, LineDecoder } from '../protocol/framing';
import { SHIM_PROTOCOL_VERSION, isShimMessage, type DaemonToShim, type ShimToDaemon } from '../protocol/shim';
import type { HostLink } from './link';

/**
 * Unread output to the daemon past which log lines for `herd logs --follow`
 * are dropped (and counted): the shim never blocks, nor grows, on a daemon
 * that does not read.
 */
export const MAX_LINE_BACKLOG = 4 * 1024 * 1024;
/**
 * Past this, even events cannot wait: the connection is closed. Events are
 * state, so nothing is lost: the daemon connects again and reads a snapshot.
 */
export const MAX_BACKLOG = 32 * 1024 * 1024;

type Hello = Extract<DaemonToShim, { type: 'hello' }>;

/**
 * The shim's end of the link to the daemon: a Unix socket server
 * (run/<id>.sock) with one active daemon connection at a time. A connection
 * begins with `hello`, which must carry the token of run/<id>.json and this
 * protocol version; a second daemon is refused unless it takes over, and the
 * one it replaces is told `replaced` and closed. With no daemon connected,
 * events are not sent anywhere: exits wait in the host's journal and the rest
 * is in the next snapshot.
 */
export class LinkServer implements HostLink {
  private readonly server: net.Server;
  private active: { socket: net.Socket; daemonPid: number } | null = null;
  private handler: (message: DaemonToShim) => void = () => {};
  /** Log lines not sent because the daemon read too slowly. */
  linesDropped = 0;
  private dropping = false;

  constructor(private readonly socketPath: string, private readonly token: string, private readonly log: (message: string) => void) {
    this.server = net.createServer((socket) => this.accept(socket));
  }

  listen(): Promise<void> {
    // A socket file left by a shim that was killed with this id would fail the bind.
    fs.rmSync(this.socketPath, { force: true });
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject);
        // run/ is 0700 already; the socket is the owner's alone as well.
        fs.chmodSync(this.socketPath, 0o600);
        resolve();
      });
    });
  }

  get connected(): boolean {
    return this.active !== null;
  }

  send(message: ShimToDaemon): void {
    const active = this.active;
    if (!active) return;
    const backlog = active.socket.writableLength;
    if (message.type === 'line' && backlog > MAX_LINE_BACKLOG) {
      this.linesDropped++;
      if (!this.dropping) this.log(`the daemon reads slowly (${backlog} bytes unread): followed log lines are dropped and counted until it catches up`);
      this.dropping = true;
      return;
    }
    if (backlog > MAX_BACKLOG) {
      this.log(`the daemon has not read ${backlog} bytes: closing its connection (it reconnects and reads a snapshot)`);
      this.drop(active.socket);
      return;
    }
    if (this.dropping && backlog <= MAX_LINE_BACKLOG / 2) {
      this.dropping = false;
      this.log(`the daemon caught up; ${this.linesDropped} followed log lines dropped so far`);
    }
    active.socket.write(encode(message));
  }

  onMessage(handler: (message: DaemonToShim) => void): void {
    this.handler = handler;
  }

  /** Stop serving: the daemon connection and the socket file go (libuv unlinks the path on close). */
  close(): void {
    this.server.close();
    if (this.active) this.active.socket.end();
    this.active = null;
  }

  private accept(socket: net.Socket): void {
    const decoder = new LineDecoder();
    socket.setEncoding('utf8');
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.active?.socket === socket) this.active = null;
    });
    socket.on('data', (chunk: string) => {
      let lines: string[];
      try {
        lines = decoder.push(chunk);
      } catch {
        this.log('a daemon sent a message past the size limit; its connection is closed');
        return void socket.destroy();
      }
      for (const line of lines) {
        let message: unknown;
        try {
          message = JSON.parse(line);
        } catch {
          this.log('a daemon sent a line that is not JSON; its connection is closed');
          return void socket.destroy();
        }
        if (socket.destroyed) return;
        if (this.active?.socket === socket) this.handler(message as DaemonToShim);
        else this.greet(socket, message);
      }
    });
  }

  /** The first message of a connection that is not the active one: only a valid hello makes it active. */
  private greet(socket: net.Socket, message: unknown): void {
    const problem = this.helloProblem(message);
    if (problem) {
      const id = (message as { id?: unknown } | null)?.id;
      socket.end(encode({ type: 'reply', id: typeof id === 'number' ? id : 0, ok: false, error: problem.toData() }));
      return;
    }
    const hello = message as Hello;
    const old = this.active;
    if (old) {
      this.log(`daemon pid ${hello.daemonPid} takes over from daemon pid ${old.daemonPid}`);
      old.socket.end(encode({ type: 'replaced' }));
    }
    this.active = { socket, daemonPid: hello.daemonPid };
    this.dropping = false;
    this.handler(hello);
  }

  private helloProblem(message: unknown): HerdError | null {
    if (!isShimMessage<DaemonToShim>(message) || message.type !== 'hello') {
      return new HerdError('HERD_ERR_SHIM_PROTOCOL', { reason: 'the first message must be hello' });
    }
    const hello = message as Partial<Hello>;
    if (hello.protocol !== SHIM_PROTOCOL_VERSION) {
      return new HerdError('HERD_ERR_SHIM_PROTOCOL', { reason: `protocol ${String(hello.protocol)}; this shim speaks ${SHIM_PROTOCOL_VERSION}` });
    }
    if (hello.token !== this.token) return new HerdError('HERD_ERR_SHIM_PROTOCOL', { reason: 'wrong token (see run/<id>.json)' });
    if (this.active && hello.takeover !== true) return new HerdError('HERD_ERR_SHIM_BUSY', { pid: this.active.daemonPid });
    return null;
  }

  private drop(socket: net.Socket): void {
    if (this.active?.socket === socket) this.active = null;
    socket.destroy();
  }
}
