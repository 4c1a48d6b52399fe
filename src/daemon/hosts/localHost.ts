import type { LogSink } from '../../logs/logSink';
import { AppHost } from '../../shim/appHost';
import { memoryLink } from '../../shim/link';
import { HostClient } from './hostClient';

/**
 * An app's host in this process, behind an in-memory link: how the daemon
 * and `herd run` run every app today. The link carries the same messages a
 * host in a process of its own would get, so App cannot tell the difference.
 */
export function localHost(app: string, logs: LogSink): HostClient {
  const { daemon, host } = memoryLink();
  new AppHost(app, host, logs);
  return new HostClient(daemon);
}
