import { formatDuration } from '../../util/units';
import type { ExitInfo } from '../worker/workerProcess';

/** What the agent told the daemon about a worker's shutdown. */
export interface ShutdownReport {
  drainReport: { finished: number; closedIdle: number; websockets?: { closedByApp: number; closedByHerd: number }; queueWorkers?: { closed: number; pending: number } } | null;
  forcedExit: string[] | null;
}

/**
 * How a stopped worker went, for `herd describe`'s events: it says "drained"
 * only when the agent reported the drain, and says so when the worker had to
 * be ended at the deadline instead of exiting by itself.
 */
export function stopOutcome(report: ShutdownReport, info: ExitInfo, killTimeout: number): string {
  if (!info.intended) return info.reason;
  const d = report.drainReport;
  if (info.signal === 'SIGKILL') {
    return d
      ? `drained, but did not exit within killTimeout ${formatDuration(killTimeout)}; ${info.reason}`
      : `did not drain within killTimeout ${formatDuration(killTimeout)}; ${info.reason}`;
  }
  if (report.forcedExit) {
    const open = report.forcedExit.length > 0 ? `still open: ${summarize(report.forcedExit)}` : 'nothing visible open';
    return `drained, but the app kept running after its shutdown (${open}); ended at the drain deadline, ${info.reason}`;
  }
  if (!d) return `${info.reason} before it reported a drain`;
  const ws = d.websockets && d.websockets.closedByApp + d.websockets.closedByHerd > 0
    ? `, WebSockets closed by the app ${d.websockets.closedByApp}, by herd ${d.websockets.closedByHerd}`
    : '';
  const q = d.queueWorkers;
  const jobs = q ? `, ${q.closed} BullMQ worker(s) closed after their active jobs${q.pending > 0 ? `, ${q.pending} still running jobs at the deadline` : ''}` : '';
  return `drained (${d.finished} requests finished, ${d.closedIdle} idle connections closed${ws}${jobs}) and ${info.reason}`;
}

/** `TCPSocketWrap x3, Timeout` rather than a long list. */
function summarize(names: string[]): string {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return [...counts].map(([k, n]) => (n > 1 ? `${k} x${n}` : k)).join(', ');
}
