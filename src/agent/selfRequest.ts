import { Duplex } from 'node:stream';
import type * as net from 'node:net';
import { listeningServers } from './drain';

/**
 * A health check of this very worker: the request is injected into the
 * worker's own HTTP server as an in-memory connection, so it runs through
 * the app's real request handling here, not in whichever worker the kernel
 * would hand a TCP connection to. Node documents that any Duplex may be
 * emitted as a server's 'connection'.
 */
export interface SelfRequestResult {
  /** HTTP status, or 0 when there was no answer. */
  status: number;
  error: string | null;
}

/** Set on the socket of an injected health check, so per-request consumers (metrics, access log) can leave it out. */
export const SELF_REQUEST = Symbol.for('herd.selfRequest');

/** A connected pair: what is written to one side is read from the other. */
export function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const make = (other: () => Duplex) => new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, callback) {
      other().push(chunk);
      callback();
    },
    final(callback) {
      other().push(null);
      callback();
    },
  });
  sides.push(make(() => sides[1] as Duplex), make(() => sides[0] as Duplex));
  return [sides[0] as Duplex, sides[1] as Duplex];
}

/** The status code of an HTTP/1.x response head, or null until the status line is complete. */
export function parseStatusLine(head: string): number | null {
  const end = head.indexOf('\r\n');
  if (end === -1) return null;
  const m = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(head.slice(0, end));
  return m ? Number(m[1]) : 0;
}

/** The first HTTP server of the worker (apps with several answer on the first one they started). */
export function findHttpServer(servers: net.Server[] = listeningServers()): net.Server | undefined {
  return servers.find((s) => s.listenerCount('request') > 0);
}

export function selfRequest(path: string, timeoutMs: number, server = findHttpServer()): Promise<SelfRequestResult> {
  if (!server) return Promise.resolve({ status: 0, error: 'no listening HTTP server in the worker' });
  const [inside, outside] = duplexPair();
  // What apps and loggers commonly read from a socket.
  Object.assign(inside, { remoteAddress: '127.0.0.1', remotePort: 0, remoteFamily: 'IPv4', encrypted: false, [SELF_REQUEST]: true });
  return new Promise((resolve) => {
    let head = '';
    let finished = false;
    const done = (result: SelfRequestResult) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      outside.removeAllListeners('data');
      inside.destroy();
      outside.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done({ status: 0, error: `no answer within ${timeoutMs}ms` }), timeoutMs);
    timer.unref();
    outside.setEncoding('latin1');
    outside.on('data', (chunk: string) => {
      head += chunk;
      const status = parseStatusLine(head);
      if (status === 0) done({ status: 0, error: `not an HTTP response: ${JSON.stringify(head.slice(0, 40))}` });
      else if (status !== null) done({ status, error: null });
    });
    outside.on('end', () => done({ status: 0, error: 'connection closed without an answer' }));
    outside.on('error', (err: Error) => done({ status: 0, error: err.message }));
    inside.on('error', () => {});
    server.emit('connection', inside);
    outside.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: herd-health-check\r\nConnection: close\r\n\r\n`);
  });
}
