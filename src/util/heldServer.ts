import type * as net from 'node:net';

const held = new WeakMap<net.Server, { sockets: net.Socket[]; listener: (socket: net.Socket) => void }>();

/**
 * A listening server received over IPC (`herd update`) accepts at once,
 * before anything here is ready to serve it: connections it accepts
 * meanwhile are kept, unread, for whoever takes the server over.
 */
export function holdConnections(server: net.Server): void {
  const sockets: net.Socket[] = [];
  const listener = (socket: net.Socket) => {
    sockets.push(socket);
  };
  server.on('connection', listener);
  held.set(server, { sockets, listener });
}

/** Stop holding: the connections kept so far, for the new owner to serve (none for a server that was not held). */
export function releaseHeld(server: net.Server): net.Socket[] {
  const entry = held.get(server);
  if (!entry) return [];
  held.delete(server);
  server.off('connection', entry.listener);
  return entry.sockets.filter((s) => !s.destroyed);
}
