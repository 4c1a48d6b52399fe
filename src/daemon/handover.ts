/**
 * `herd update`: a running daemon hands itself over to a new one, the herd
 * version installed now, without a worker noticing. The old daemon starts
 * the new one as its child and passes it, over the IPC channel (the only
 * way a listening socket moves between processes, parent to child), the
 * control socket and the listening sockets of its HTTP endpoints, then its
 * settings. The new daemon serves on those sockets (nothing is refused
 * meanwhile), takes over every app's shim (hello with takeover), writes
 * daemon.pid (systemd follows a Type=forking service to the pid it names),
 * and says ready. The old one then exits without closing the control
 * socket: closing it would unlink the path the new daemon listens on.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type * as net from 'node:net';
import type { DaemonSettings } from '../config/types';
import { HerdError, toErrorData, type ErrorData } from '../errors';
import type { ListenAt } from './http/listen';
import { holdConnections } from '../util/heldServer';

/** How long the new daemon may take to adopt every app and say ready. */
const READY_TIMEOUT_MS = 30_000;

/** What the old daemon hands over. */
export interface Handover {
  control: net.Server;
  /** The HTTP endpoints' listening sockets, by the address they listen on. */
  endpoints: { at: ListenAt; server: net.Server }[];
  settings: DaemonSettings;
  /** The old daemon, for the new one's log and events. */
  from: { pid: number; version: string };
}

type ToSuccessor =
  | { herd: 'control' }
  | { herd: 'endpoint'; at: ListenAt }
  | { herd: 'settings'; settings: DaemonSettings; from: { pid: number; version: string } };
type FromSuccessor = { herd: 'ready'; pid: number; version: string } | { herd: 'failed'; error: ErrorData };

/** The flag `daemon/main.js` is started with when it takes over from a running daemon. */
export const TAKEOVER_FLAG = '--takeover';

/**
 * Old daemon: start `daemonMain` with `execPath`, hand it `handover`, and
 * resolve once it serves, with its pid and version. Rejects (and kills it)
 * when it fails, exits or does not say ready in time: the caller then takes
 * back what it handed over.
 */
export async function startSuccessor(execPath: string, daemonMain: string, args: string[], log: string, handover: Handover): Promise<{ pid: number; version: string }> {
  const out = fs.openSync(log, 'a', 0o600);
  let child: ChildProcess;
  try {
    // fd 3 is not the readiness pipe here (the IPC channel says ready): /dev/null takes the daemon's report.
    child = spawn(execPath, [...args, daemonMain, TAKEOVER_FLAG], { detached: true, stdio: ['ignore', out, out, 'ignore', 'ipc'], env: process.env });
  } finally {
    fs.closeSync(out);
  }
  const send = (message: ToSuccessor, handle?: net.Server) => new Promise<void>((resolve, reject) => {
    child.send(message, handle, (err) => (err ? reject(err) : resolve()));
  });
  try {
    return await new Promise<{ pid: number; version: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the new daemon did not say ready within ${READY_TIMEOUT_MS / 1000} s`)), READY_TIMEOUT_MS);
      const done = () => clearTimeout(timer);
      child.on('error', (err) => {
        done();
        reject(err);
      });
      child.once('exit', (code, signal) => {
        done();
        reject(new Error(`the new daemon exited (${signal ?? `code ${code}`}) before it was ready; see ${log}`));
      });
      child.on('message', (message: FromSuccessor) => {
        if (message?.herd === 'ready') {
          done();
          resolve({ pid: message.pid, version: message.version });
        } else if (message?.herd === 'failed') {
          done();
          reject(HerdError.fromData(message.error));
        }
      });
      void (async () => {
        await send({ herd: 'control' }, handover.control);
        for (const e of handover.endpoints) await send({ herd: 'endpoint', at: e.at }, e.server);
        await send({ herd: 'settings', settings: handover.settings, from: handover.from });
      })().catch((err: unknown) => {
        done();
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  } catch (err) {
    try {
      child.kill('SIGKILL');
    } catch {
      // gone already
    }
    throw err;
  } finally {
    child.removeAllListeners('message');
    child.removeAllListeners('exit');
    if (child.connected) child.disconnect();
    child.unref();
  }
}

/** New daemon: what the old one hands over, in the order it sends it. */
export function receiveHandover(): Promise<Handover> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error(`${TAKEOVER_FLAG} needs the IPC channel of the daemon it takes over from`));
    let control: net.Server | null = null;
    const endpoints: Handover['endpoints'] = [];
    const onMessage = (message: ToSuccessor, handle: unknown) => {
      // Each listens already: what it accepts before its server is ready waits (released to it then).
      if (message?.herd === 'control') {
        control = handle as net.Server;
        holdConnections(control);
      } else if (message?.herd === 'endpoint') {
        holdConnections(handle as net.Server);
        endpoints.push({ at: message.at, server: handle as net.Server });
      }
      else if (message?.herd === 'settings') {
        process.off('message', onMessage);
        if (!control) return reject(new Error('the old daemon sent no control socket'));
        resolve({ control, endpoints, settings: message.settings, from: message.from });
      }
    };
    process.on('message', onMessage);
    process.once('disconnect', () => reject(new Error('the old daemon went away before it handed over')));
  });
}

/** New daemon: tell the old one how the takeover went, then cut the channel (this daemon is no one's child any more). */
export function reportTakeover(outcome: { pid: number; version: string } | { error: unknown }): Promise<void> {
  const message: FromSuccessor = 'error' in outcome ? { herd: 'failed', error: toErrorData(outcome.error) } : { herd: 'ready', ...outcome };
  return new Promise((resolve) => {
    if (!process.send || !process.connected) return resolve();
    process.send(message, undefined, {}, () => {
      if (process.connected) process.disconnect();
      resolve();
    });
  });
}
