import * as diagnostics from 'node:diagnostics_channel';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { LoopWait } from './loopWait';

/**
 * One observation point for every HTTP request a worker serves, without app
 * code: Node publishes each request on the 'http.server.request.start'
 * diagnostics channel before the app sees it. Metrics and the access log
 * subscribe here instead of each hooking requests on their own, so a request
 * costs one timestamp and one 'close' listener however many consumers there are.
 */
export interface CompletedRequest {
  request: IncomingMessage;
  response: ServerResponse;
  method: string;
  url: string;
  /** 0 when the client went away before a response was sent. */
  status: number;
  /** Service time: from the 'request' event to the response's end, ms. */
  durationMs: number;
  /** Time the request waited for the event loop before the 'request' event, ms (see LoopWait). */
  waitMs: number;
  /** The response did not finish: the connection closed first. */
  aborted: boolean;
}

export type RequestListener = (request: CompletedRequest) => void;

interface RequestStart {
  request: IncomingMessage;
  response: ServerResponse;
}

export class HttpProbe {
  private readonly listeners = new Set<RequestListener>();
  private readonly channel = diagnostics.channel('http.server.request.start');
  /** Every connection a server of this process accepts (Node's net.Server onconnection). */
  private readonly accepted = diagnostics.channel('net.server.socket');
  private subscribed = false;
  private active = 0;
  private readonly loop = new LoopWait(() => performance.nodeTiming.idleTime, setImmediate, performance.now());

  /** Requests started and not yet finished or aborted. */
  get inFlight(): number {
    return this.active;
  }

  /** Subscribe a consumer; the channel is only hooked while someone listens. */
  add(listener: RequestListener): () => void {
    this.listeners.add(listener);
    if (!this.subscribed) {
      this.channel.subscribe(this.onStart);
      this.accepted.subscribe(this.onAccept);
      this.subscribed = true;
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.subscribed) {
        this.channel.unsubscribe(this.onStart);
        this.accepted.unsubscribe(this.onAccept);
        this.subscribed = false;
      }
    };
  }

  /**
   * A new connection's first request counts its wait from the earliest the
   * connection can have arrived (LoopWait.accepted): its time in the accept
   * queue, where a busy worker takes one connection per loop turn, is part
   * of what the client waited. From the start of the loop's busy stretch
   * alone, which an overloaded loop never ends, it would grow without bound.
   */
  private readonly onAccept = (message: unknown): void => {
    const socket = (message as { socket?: Done }).socket;
    const server = (socket as { server?: unknown } | undefined)?.server as (Server & { [SEEN]?: true }) | undefined;
    if (!socket || !server) return;
    if (!server[SEEN]) {
      server[SEEN] = true;
      server.once('close', () => {
        delete server[SEEN];
        this.loop.forget(server);
      });
    }
    socket[DONE] = this.loop.accepted(performance.now(), server);
  };

  private readonly onStart = (message: unknown): void => {
    const { request, response } = message as RequestStart;
    // No closure per request: the start time rides on the response and one
    // shared listener handles every 'close' (this is the hot path of every
    // request the worker serves).
    const now = performance.now();
    (response as Timed)[STARTED] = now;
    (response as Timed)[WAITED] = this.loop.waitOf(now, (request.socket as Done | null)?.[DONE]);
    this.active++;
    response.on('close', this.onClose);
  };

  // A plain function: 'close' listeners get the response as `this`, no arguments.
  private readonly onClose = (() => {
    const probe = this;
    return function onClose(this: ServerResponse): void {
      probe.complete(this);
    };
  })();

  private complete(response: ServerResponse): void {
    this.active--;
    const finished = response.writableFinished;
    const request = response.req;
    const now = performance.now();
    // The connection's next request cannot have been sent before this one's answer.
    const socket = request.socket as Done | null;
    if (socket) socket[DONE] = now;
    const record: CompletedRequest = {
      request,
      response,
      method: request.method ?? 'GET',
      url: request.url ?? '/',
      status: finished || response.headersSent ? response.statusCode : 0,
      durationMs: now - ((response as Timed)[STARTED] ?? 0),
      waitMs: (response as Timed)[WAITED] ?? 0,
      aborted: !finished,
    };
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch {
        // A consumer's bug must never reach the app's request.
      }
    }
  }
}

const STARTED = Symbol('herd.started');
const WAITED = Symbol('herd.waited');
type Timed = ServerResponse & { [STARTED]?: number; [WAITED]?: number };
/** On the socket: when the last response on this connection ended. */
const DONE = Symbol('herd.responseDone');
/** On a server: its 'close' forgets its accept queue. */
const SEEN = Symbol('herd.acceptSeen');
type Done = Socket & { [DONE]?: number };
