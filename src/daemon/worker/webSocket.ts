import { createHash, randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type { Socket } from 'node:net';

/**
 * The smallest WebSocket client the daemon needs to talk to a worker's V8
 * inspector (RFC 6455: client frames masked, text messages, fragmentation,
 * close). No extensions, no TLS: the inspector listens on 127.0.0.1 only.
 */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export const OPCODE = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** One client frame: FIN set, masked as a client must. */
export function encodeFrame(opcode: number, payload: Buffer, mask: Buffer = randomBytes(4)): Buffer {
  const length = payload.length;
  const extra = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + extra + 4);
  head[0] = 0x80 | opcode;
  if (extra === 0) head[1] = 0x80 | length;
  else if (extra === 2) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(length, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(length), 2);
  }
  mask.copy(head, 2 + extra);
  const body = Buffer.alloc(length);
  for (let i = 0; i < length; i++) body[i] = (payload[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([head, body]);
}

export interface Frame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

/** Splits a byte stream into frames (server frames are unmasked, but a masked one is read too). */
export class FrameDecoder {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Frame[] {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const frames: Frame[] = [];
    for (;;) {
      const b = this.buffered;
      if (b.length < 2) break;
      const masked = ((b[1] as number) & 0x80) !== 0;
      let length = (b[1] as number) & 0x7f;
      let offset = 2;
      if (length === 126) {
        if (b.length < 4) break;
        length = b.readUInt16BE(2);
        offset = 4;
      } else if (length === 127) {
        if (b.length < 10) break;
        length = Number(b.readBigUInt64BE(2));
        offset = 10;
      }
      const maskAt = offset;
      if (masked) offset += 4;
      if (b.length < offset + length) break;
      let payload = b.subarray(offset, offset + length);
      if (masked) {
        const mask = b.subarray(maskAt, maskAt + 4);
        payload = Buffer.from(payload.map((byte, i) => byte ^ (mask[i % 4] as number)));
      }
      frames.push({ fin: ((b[0] as number) & 0x80) !== 0, opcode: (b[0] as number) & 0x0f, payload: Buffer.from(payload) });
      this.buffered = b.subarray(offset + length);
    }
    return frames;
  }
}

export class WebSocketClient {
  private readonly decoder = new FrameDecoder();
  private fragments: Buffer[] = [];
  private readonly handlers = new Set<(text: string) => void>();
  private closed = false;

  private constructor(private readonly socket: Socket, head: Buffer) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => socket.destroy());
    if (head.length > 0) this.onData(head);
  }

  static connect(url: string, timeoutMs: number): Promise<WebSocketClient> {
    const key = randomBytes(16).toString('base64');
    const expected = createHash('sha1').update(key + GUID).digest('base64');
    return new Promise((resolve, reject) => {
      const req = http.get(url.replace(/^ws:/, 'http:'), {
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' },
        timeout: timeoutMs,
      });
      req.on('upgrade', (res, socket, head) => {
        if (res.headers['sec-websocket-accept'] !== expected) {
          socket.destroy();
          reject(new Error('bad Sec-WebSocket-Accept'));
          return;
        }
        resolve(new WebSocketClient(socket, head));
      });
      req.on('response', (res) => {
        res.resume();
        reject(new Error(`no upgrade: HTTP ${res.statusCode}`));
      });
      req.on('timeout', () => req.destroy(new Error(`no upgrade within ${timeoutMs}ms`)));
      req.on('error', reject);
    });
  }

  onMessage(handler: (text: string) => void): void {
    this.handlers.add(handler);
  }

  send(text: string): void {
    if (!this.closed) this.socket.write(encodeFrame(OPCODE.text, Buffer.from(text)));
  }

  close(): void {
    if (!this.closed) this.socket.end(encodeFrame(OPCODE.close, Buffer.alloc(0)));
    this.closed = true;
    setTimeout(() => this.socket.destroy(), 100).unref();
  }

  private onData(chunk: Buffer): void {
    for (const frame of this.decoder.push(chunk)) {
      if (frame.opcode === OPCODE.ping) {
        this.socket.write(encodeFrame(OPCODE.pong, frame.payload));
      } else if (frame.opcode === OPCODE.close) {
        this.close();
      } else if (frame.opcode === OPCODE.text || frame.opcode === OPCODE.continuation) {
        this.fragments.push(frame.payload);
        if (frame.fin) {
          const text = Buffer.concat(this.fragments).toString('utf8');
          this.fragments = [];
          for (const handler of this.handlers) handler(text);
        }
      }
    }
  }
}
