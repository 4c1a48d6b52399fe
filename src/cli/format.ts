import type { AlertsView, AppDetail, AppInfo, JobRunView, JobView, StickyStats, WorkerInfo } from '../protocol/control';
import { formatBytes, formatDuration } from '../util/units';
import { jobsLine } from './queueText';
import { formatAutoscaleValue as formatValue, type AutoscaleView } from '../protocol/autoscale';

const useColor = process.stdout.isTTY === true && !process.env.NO_COLOR;

const COLORS: Record<string, string> = { online: '32', errored: '31', held: '31', replacing: '33', stopped: '90', backoff: '33', starting: '36', launching: '36', draining: '33', reloading: '36', stopping: '33', waiting: '36', running: '32' };

export function paint(status: string): string {
  const code = COLORS[status];
  return useColor && code ? `\u001b[${code}m${status}\u001b[0m` : status;
}

function visibleLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[\d+m/g, '').length;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const line = (cells: string[]) => cells.map((c, i) => c + ' '.repeat((widths[i] ?? 0) - visibleLength(c))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

function workerRow(app: AppInfo, w: WorkerInfo, first: boolean): string[] {
  return [
    first ? app.name : '',
    first ? paint(app.status) : '',
    String(w.id),
    w.pid === null ? '-' : String(w.pid),
    paint(w.status),
    String(w.restarts),
    w.pid === null ? '-' : formatDuration(w.uptimeMs),
    w.pid === null ? '-' : `${w.cpu.toFixed(0)}%`,
    w.pid === null ? '-' : formatBytes(w.memory),
  ];
}

export function listTable(apps: AppInfo[]): string {
  if (apps.length === 0) return 'no apps; start one with `herd start <script|config>`';
  const rows: string[][] = [];
  for (const app of apps) {
    if (app.workers.length === 0) rows.push([app.name, paint(app.status), '-', '-', '-', '-', '-', '-', '-']);
    app.workers.forEach((w, i) => rows.push(workerRow(app, w, i === 0)));
  }
  return table(['app', 'status', 'worker', 'pid', 'worker status', 'restarts', 'uptime', 'cpu', 'memory'], rows);
}

export function describeText(d: AppDetail): string {
  const lines = [
    `${d.name}: ${paint(d.status)}${d.reason ? ` (${d.reason})` : ''}`,
    `  script      ${d.script} ${d.args.join(' ')}`.trimEnd(),
    `  cwd         ${d.cwd}`,
    `  mode        ${d.execMode}, ${d.instances} instance(s)`,
    `  node        ${d.interpreter} ${d.nodeArgs.join(' ')}`.trimEnd(),
    ...(d.runAs ? [`  user        ${userText(d.runAs)}`] : []),
    `  listening   ${d.listening.length > 0 ? d.listening.join(', ') : '-'}`,
    `  restarts    ${d.restarts}`,
    ...(d.shim ? [`  shim        pid ${d.shim.pid}, herd ${d.shim.version}, ${Math.round(d.shim.memory / 1048576)} MB`] : []),
    `  config      ${d.configFile ?? '-'}${d.envName ? ` (--env ${d.envName})` : ''}`,
  ];
  if (d.job) lines.push('', 'job:', ...jobLines(d.job, '  '));
  if (d.queue) {
    const q = d.queue;
    lines.push(`  queue       ${q.name} on ${q.redis} (prefix ${q.prefix}, concurrency ${q.concurrency}${q.priority !== null ? `, priority ${q.priority}` : ''})`);
    if (q.jobs) lines.push(jobsLine(q.jobs));
  }
  if (d.cron) lines.push(`  cron reload ${d.cron.schedule} (next ${d.cron.next !== null ? new Date(d.cron.next).toISOString() : d.status === 'stopped' ? '-, stopped' : '-'})`);
  if (d.watch) {
    const state = d.watch.watching ? `${d.watch.directories} director${d.watch.directories === 1 ? 'y' : 'ies'}` : 'not watching';
    lines.push(`  watch       ${d.watch.paths.join(', ')} (${state}, delay ${d.watch.delay}ms)`);
  }
  const files = d.logFiles;
  if (files && (files.out ?? files.err ?? files.combined) !== null) {
    lines.push(`  log files   out ${files.out ?? '-'}, err ${files.err ?? '-'}, combined ${files.combined ?? '-'}`);
  }
  for (const w of d.warnings ?? []) lines.push(`  warning     ${w}`);
  if (d.retryAt) lines.push(`  retry at    ${new Date(d.retryAt).toISOString()}`);
  if (d.logLinesDropped > 0) lines.push(`  log lines dropped  ${d.logLinesDropped}`);
  if (d.sticky) lines.push(...stickyLines(d.sticky));
  if (d.autoscale) lines.push(...autoscaleLines(d.autoscale));
  lines.push('', 'workers:');
  for (const w of d.workers) {
    const shed = w.shed > 0 ? ` shed ${w.shed}` : '';
    lines.push(`  [${w.id}] pid ${w.pid ?? '-'} ${paint(w.status)} restarts ${w.restarts}${shed}: ${w.reason}`);
  }
  if (d.lastStderr.length > 0) {
    lines.push('', 'last stderr of a crashed worker:');
    for (const l of d.lastStderr) lines.push(`  | ${l}`);
  }
  if ((d.stallProfiles ?? []).length > 0) {
    lines.push('', 'profiles taken on a slow event loop (profileOnStall):');
    for (const p of d.stallProfiles ?? []) lines.push(`  ${new Date(p.time).toISOString()} [${p.worker}] pid ${p.pid} delay ${p.delayMs}ms: ${p.path}`);
  }
  if (d.events.length > 0) {
    lines.push('', 'recent events:');
    for (const e of d.events.slice(-15)) {
      lines.push(`  ${new Date(e.time).toISOString()} ${e.worker === null ? 'app' : `[${e.worker}]`} ${e.message}`);
    }
  }
  return lines.join('\n');
}

function autoscaleLines(a: AutoscaleView): string[] {
  const reading = a.value === null ? 'no reading' : `${formatValue(a.metric, a.value)} (target ${formatValue(a.metric, a.target)}), wants ${a.desired ?? '-'}`;
  const lines = [
    `  autoscale   ${a.mode}, ${a.current} worker(s) of ${a.min}..${a.max} on ${a.metric}: ${a.mode === 'auto' ? reading : `target ${formatValue(a.metric, a.target)}`}`,
    ...(a.held ? [`  held        ${a.held}`] : []),
  ];
  if (a.decisions.length > 0) {
    lines.push('', 'scale steps:');
    for (const x of a.decisions.slice(-10)) lines.push(`  ${new Date(x.time).toISOString()} ${x.from} → ${x.to}: ${x.reason}`);
  }
  return lines;
}

function userText(u: NonNullable<AppDetail['runAs']>): string {
  return `${u.user} (uid ${u.uid}), group ${u.group} (gid ${u.gid})${u.daemons ? ": the daemon's user (the app sets none)" : ''}`;
}

function stickyLines(s: StickyStats): string[] {
  const slots = s.perSlot.map((p) => `[${p.slot}] ${p.connections}`).join(', ');
  const lines = [`  sticky      ${s.accepted} connections accepted, ${s.handedOff} taken by workers${slots ? ` (${slots})` : ''}, ` +
    `${s.rerouted} re-routed, ${s.waiting} waiting`];
  const d = s.dropped;
  if (d.total > 0) {
    const why = [[d.timedOut, 'waited too long for a ready worker'], [d.queueFull, 'wait queue full'],
      [d.refused, 'refused by every worker'], [d.stopped, 'app stopped']] as const;
    lines.push(`  sticky dropped  ${d.total}: ${why.filter(([n]) => n > 0).map(([n, w]) => `${n} ${w}`).join(', ')}`);
  }
  if (s.acceptErrors > 0) lines.push(`  sticky accept errors  ${s.acceptErrors}`);
  return lines;
}

export function alertsText(v: AlertsView): string {
  if (v.rules.length === 0) return 'no alert rules; add `alerts: { webhook, rules: [...] }` to a config file (docs/alerts.md)';
  const lines = [`rules (webhook: ${v.webhook ?? 'none'}):`, ...v.rules.map((r) => `  ${r}`), ''];
  lines.push(v.active.length === 0 ? 'firing: none' : 'firing:');
  for (const a of v.active) lines.push(`  ${a.rule} since ${new Date(a.since).toISOString()} (value ${a.value ?? 'no data'})`);
  if (v.events.length > 0) {
    lines.push('', 'recent events:');
    for (const e of v.events.slice(-20)) {
      lines.push(`  ${new Date(e.at).toISOString()} ${e.status} ${e.app}: ${e.rule} (value ${e.value ?? 'no data'}; webhook ${e.delivery})`);
    }
  }
  return lines.join('\n');
}

/** A job as `herd jobs` and `herd describe` show it. */
export function jobLines(j: JobView, indent = ''): string[] {
  const s = j.skipped;
  const lines = [
    `${indent}${j.name}: ${j.schedule} (${j.timezone})${j.fleet ? ', once per fleet' : ''}`,
    `${indent}  next     ${j.next ?? '-, stopped'}`,
    `${indent}  running  ${j.running ?? '-'}`,
    `${indent}  skipped  overlap ${s.overlap}, redis unavailable ${s.redis}, missed ${s.missed}, ran on another host ${s.lost}` +
      (j.lastLost ? ` (last: ${j.lastLost.tick} on ${j.lastLost.host ?? '?'})` : ''),
  ];
  if (j.runs.length === 0) return [...lines, `${indent}  no runs yet`];
  const rows = j.runs.map((r) => [r.tick, r.host, new Date(r.startedAt).toISOString(), r.durationMs === null ? '-' : formatDuration(r.durationMs), outcome(r), String(r.fence)]);
  return [...lines, '', ...table(['tick', 'host', 'started', 'duration', 'exit', 'fence'], rows).split('\n').map((l) => `${indent}  ${l}`)];
}

function outcome(r: JobRunView): string {
  if (r.signal !== null) return r.signal;
  if (r.exitCode !== null) return String(r.exitCode);
  return r.durationMs === null && r.reason === undefined ? 'running' : '?';
}
