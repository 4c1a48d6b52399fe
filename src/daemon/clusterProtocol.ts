import type { ChildProcess } from 'node:child_process';
import type { ListenSockets, ServerHandle } from './listenSockets';

/**
 * The primary's side of Node's own cluster protocol. A worker is started with
 * NODE_UNIQUE_ID set, so Node's cluster child code runs inside it unchanged:
 * every server.listen() in the app (http, Express, Fastify, Koa...) sends a
 * 'queryServer' message here and receives the app's shared socket. No
 * monkey-patching in the worker is needed.
 */
export interface ClusterMessage {
  cmd: 'NODE_CLUSTER';
  act?: string;
  seq?: number;
  ack?: number;
  address?: string | null;
  port?: number;
  addressType?: number;
  fd?: number;
  flags?: number;
  index?: number;
}

export interface ClusterEvents {
  /** The worker's server is listening on a shared socket. */
  onListening(address: string): void;
  /** The daemon could not bind what the worker asked for (the worker is told, and Node throws there). */
  onListenError(failure: { address: string | null; port: number; errno: number }): void;
}

export function isClusterMessage(message: unknown): message is ClusterMessage {
  return typeof message === 'object' && message !== null && (message as { cmd?: unknown }).cmd === 'NODE_CLUSTER';
}

export function handleClusterMessage(
  child: ChildProcess, message: ClusterMessage, sockets: ListenSockets, events: ClusterEvents,
): void {
  switch (message.act) {
    case 'queryServer': {
      const result = sockets.acquire({
        address: message.address ?? null,
        port: message.port ?? 0,
        addressType: message.addressType ?? 4,
        fd: message.fd,
        flags: message.flags,
        index: message.index ?? 0,
      });
      if ('errno' in result) {
        events.onListenError({ address: message.address ?? null, port: message.port ?? 0, errno: result.errno });
        reply(child, { cmd: 'NODE_CLUSTER', ack: message.seq, key: result.key, errno: result.errno, data: null });
      } else {
        reply(child, { cmd: 'NODE_CLUSTER', ack: message.seq, key: result.key, errno: 0, data: null }, result.handle);
      }
      return;
    }
    case 'listening':
      sockets.markListening(message.port ?? 0, message.addressType ?? 4, message.address ?? null);
      events.onListening(message.addressType === -1 ? String(message.address) : `${message.address ?? '*'}:${message.port}`);
      return;
    case 'exitedAfterDisconnect':
      // The app called cluster.worker.disconnect(); it waits for this ack.
      reply(child, { cmd: 'NODE_CLUSTER', ack: message.seq });
      return;
    default:
      // 'online' and 'close' need no answer: the daemon keeps the socket open
      // for the app's life, whatever a single worker does with its copy.
      return;
  }
}

function reply(child: ChildProcess, message: Record<string, unknown>, handle?: ServerHandle): void {
  if (!child.connected) return;
  try {
    // The handle is sent as a duplicate file descriptor; the daemon keeps its own.
    child.send(message, handle as unknown as import('node:net').Server | undefined, () => {});
  } catch {
    // The worker died between asking and our answer; its exit is handled elsewhere.
  }
}
