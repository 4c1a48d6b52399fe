/**
 * What makes a worker ready, in one place (the host decides it, because a
 * worker can become ready while no daemon listens):
 * - the app promised a ready signal (waitReady): only that signal counts,
 *   `process.send('ready')` (PM2's convention) or the runtime API's ready();
 * - otherwise its first listening server, or, with the agent, having
 *   settled without listening (a queue consumer);
 * - a worker without the agent (runner 'exec') cannot signal anything: a
 *   socket listening in its process tree, or its settling, is the rule.
 */
export type ReadinessSignal =
  /** `process.send('ready')`. */
  | 'readyMessage'
  /** The agent: the app called ready(). */
  | 'readyCall'
  /** A server of its own listens (cluster protocol, or the agent in fork mode). */
  | 'listening'
  /** The agent: no listening socket after a while; ready as it is. */
  | 'settled'
  /** No agent: /proc shows a listening socket in its tree, or it settled without one. */
  | 'watched';

export function readyBy(signal: ReadinessSignal, waitReady: boolean): boolean {
  switch (signal) {
    case 'readyMessage':
    case 'readyCall':
      return waitReady;
    case 'listening':
    case 'settled':
      return !waitReady;
    case 'watched':
      return true;
  }
}
