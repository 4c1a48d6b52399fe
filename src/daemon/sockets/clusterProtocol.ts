import type { ChildProcess } from 'node:child_process';
import type { ListenSockets, ServerHandle } from './listenSockets';
import type { ClientHandle, NewConnMessage, StickyWorker } from './stickyRouter';

/**
 * The primary's side of Node's own cluster protocol. A worker is started with
 * NODE_UNIQUE_ID set, so Node's cluster child code runs inside it unchanged:
 * every server.listen() in the app (http, Express, Fastify, Koa...) sends a
 * 'queryServer' message here and receives the app's shared socket, or, for a
 * sticky app, an answer without a handle, which puts the worker's server in
 * round-robin mode: the daemon then sends it each connection ('newconn').
 * No monkey-patching in the worker is needed.
 */
export interface ClusterMessage {
  cmd: 'NODE_CLUSTER';
  act?: string;
  seq?: number;
  ack?: number;
  key?: string;
  /** A round-robin worker's answer to 'newconn'. */
  accepted?: boolean;
  address?: string | null;
  port?: number;
  addressType?: number;
  fd?: number;
  flags?: number;
  index?: number;
}

/** The worker process as the cluster protocol needs it. */
export interface ClusterWorker {
  /** Daemon-wide unique id (NODE_UNIQUE_ID). */
  readonly id: number;
  readonly slot: number;
  /** Ready and not draining: may be given new connections of a sticky socket. */
  accepting(): boolean;
  /** The worker's server is listening on a shared socket. */
  /** `stream`: TCP or a pipe (not UDP, which dgram also reports as listening). */
  onListening(address: string, stream: boolean): void;
  /** The daemon could not bind what the worker asked for (the worker is told, and Node throws there). */
  onListenError(failure: { address: string | null; port: number; errno: number }): void;
}

export function isClusterMessage(message: unknown): message is ClusterMessage {
  return typeof message === 'object' && message !== null && (message as { cmd?: unknown }).cmd === 'NODE_CLUSTER';
}

export function handleClusterMessage(
  child: ChildProcess, message: ClusterMessage, sockets: ListenSockets, worker: ClusterWorker,
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
      const answer = { cmd: 'NODE_CLUSTER', ack: message.seq, key: result.key, data: null };
      if (result.kind === 'failed') {
        worker.onListenError({ address: message.address ?? null, port: message.port ?? 0, errno: result.errno });
        reply(child, { ...answer, errno: result.errno });
      } else if (result.kind === 'shared') {
        reply(child, { ...answer, errno: 0 }, result.handle);
      } else {
        // No handle: Node's cluster child sets the server up in round-robin mode.
        reply(child, result.sockname ? { ...answer, errno: 0, sockname: result.sockname } : { ...answer, errno: 0 });
        sockets.sticky?.add(result.key, stickyWorker(child, worker));
      }
      return;
    }
    case 'listening':
      sockets.markListening(message.port ?? 0, message.addressType ?? 4, message.address ?? null);
      worker.onListening(message.addressType === -1 ? String(message.address) : `${message.address ?? '*'}:${message.port}`,
        [4, 6, -1].includes(message.addressType as number));
      return;
    case 'close':
      // The worker closed a server (it drains, or the app closed it). A shared
      // socket stays open in the daemon for the app's life; a sticky one stops
      // sending this worker connections.
      if (typeof message.key === 'string') sockets.sticky?.remove(worker.id, message.key);
      return;
    case 'exitedAfterDisconnect':
      // The app called cluster.worker.disconnect(); it waits for this ack.
      reply(child, { cmd: 'NODE_CLUSTER', ack: message.seq });
      return;
    case undefined:
      // A round-robin worker's answer to a connection sent to it.
      if (typeof message.ack === 'number') sockets.sticky?.ack(worker.id, message.ack, message.accepted === true);
      return;
    default:
      // 'online' needs no answer.
      return;
  }
}

function stickyWorker(child: ChildProcess, worker: ClusterWorker): StickyWorker {
  return {
    id: worker.id,
    slot: worker.slot,
    accepting: () => child.connected && worker.accepting(),
    send: (message: NewConnMessage, handle: ClientHandle, done: (error: Error | null) => void) => {
      if (!child.connected) return false;
      try {
        // The client handle travels as a duplicate descriptor; the router closes its own once the worker accepted.
        child.send(message, handle as unknown as import('node:net').Socket, done);
        return true;
      } catch {
        return false;
      }
    },
    onGone: (fn) => {
      let called = false;
      const once = () => {
        if (called) return;
        called = true;
        fn();
      };
      child.once('disconnect', once);
      child.once('exit', once);
    },
  };
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
