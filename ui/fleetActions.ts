import type { FleetActionBody, FleetActionLine, FleetActionName } from '../src/dashboard/apiTypes';
import type { HostOutcome } from '../src/fleet/commandSender';
import type { RolloutHost, RolloutReport } from '../src/fleet/rollout';
import { capitalise, confirmAction, showPanel, type PanelState } from './actions';
import { actOnFleet } from './api';
import { clock, h, KeyedTable, ms } from './dom';

/** What an action does, fleet-wide (`host` null) or on one host. */
function explain(action: FleetActionName, host: string | null, reload: { batch: number; settleS: number }): string {
  const where = host === null ? 'every host that runs it' : `host ${host} only`;
  switch (action) {
    case 'reload':
      return host === null
        ? `Rolling reload on ${where}, ${reload.batch} host(s) at a time in name order${reload.settleS > 0 ? `, each watched ${reload.settleS} s after its reload` : ''}. Each host runs its zero-loss reload; the first failure stops the rollout and the hosts after it are not touched.`
        : `Zero-loss reload on ${where}: new workers first, then the old ones drain. If a new worker fails, the old ones keep serving.`;
    case 'restart':
      return `Every worker on ${where} stops, then new ones start, on all those hosts at once. Requests are delayed meanwhile.`;
    case 'stop':
      return `Every worker on ${where} drains and stops; the port is released there.`;
    case 'start':
      return `Start the app's workers again on ${where}.`;
    case 'scale':
      return host === null
        ? 'Each host that runs it gets this number of workers (not the fleet total), live; removed workers drain first.'
        : `Change the number of workers on ${where}, live; removed workers drain first.`;
  }
}

/** Rollout states that are not a success; their rows are highlighted. */
const BAD_STATES: readonly string[] = ['failed', 'down', 'refused'];

/**
 * The fleet page's actions: buttons made for each app row (fleet-wide) and
 * each host's app row (that host), one at a time, with a panel showing the
 * hosts' progress lines and, when it ends, what each host answered or the
 * rolling reload's report.
 */
export class FleetActions {
  readonly panel: HTMLElement;
  /** Rolling-reload options, shown above the fleet-wide app table. */
  readonly options: HTMLElement;
  private readonly batchInput: HTMLInputElement;
  private readonly settleInput: HTMLInputElement;
  private readonly controls = new Set<HTMLButtonElement>();
  private busy = false;

  constructor(private readonly afterAction: () => void) {
    this.panel = h('div', { class: 'action-panel', hidden: true, 'data-testid': 'action-panel' });
    this.batchInput = h('input', { type: 'number', min: 1, max: 64, value: '1', 'aria-label': 'hosts at a time', 'data-testid': 'fleet-batch' });
    this.settleInput = h('input', { type: 'number', min: 0, max: 600, value: '0', 'aria-label': 'settle seconds', 'data-testid': 'fleet-settle' });
    this.options = h('p', { class: 'hint fleet-options' }, 'Rolling reload: ', this.batchInput, ' host(s) at a time, each watched ', this.settleInput, ' s after its reload.');
  }

  /** The buttons for one app, on every host (`host` null) or one; `workers` starts the scale input (per host: scale sets each host's count). */
  buttons(app: string, host: string | null, workers: number): HTMLElement {
    const button = (action: Exclude<FleetActionName, 'scale'>, label: string, cls = '') =>
      this.control(h('button', { class: `small ${cls}`, 'data-action': action, onclick: () => void this.run(app, host, action, {}) }, label));
    const scaleInput = h('input', { type: 'number', min: 0, max: 1024, value: String(workers), 'aria-label': 'workers', 'data-testid': 'scale-input' });
    const scale = this.control(h('button', { class: 'small', 'data-action': 'scale', onclick: () => void this.scale(app, host, scaleInput.value.trim()) }, 'Scale'));
    return h('span', { class: 'row-actions' },
      button('reload', 'Reload', 'primary'), button('restart', 'Restart'), button('stop', 'Stop', 'danger'), button('start', 'Start'),
      h('span', { class: 'scale' }, scaleInput, scale));
  }

  private control(b: HTMLButtonElement): HTMLButtonElement {
    b.disabled = this.busy;
    this.controls.add(b);
    return b;
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    for (const b of this.controls) {
      if (!b.isConnected) this.controls.delete(b);
      else b.disabled = busy;
    }
  }

  private async scale(app: string, host: string | null, value: string): Promise<void> {
    if (!/^\d+$/.test(value)) return this.show('failed', `Scale needs a whole number of workers; got "${value}".`, []);
    await this.run(app, host, 'scale', { count: Number(value) }, ` to ${value} workers${host === null ? ' per host' : ''}`);
  }

  private reloadOptions(): { batch: number; settleS: number } {
    const batch = Math.min(64, Math.max(1, Math.floor(Number(this.batchInput.value)) || 1));
    const settleS = Math.min(600, Math.max(0, Number(this.settleInput.value) || 0));
    return { batch, settleS };
  }

  private async run(app: string, host: string | null, action: FleetActionName, extra: FleetActionBody, suffix = ''): Promise<void> {
    if (this.busy) return;
    const reload = this.reloadOptions();
    const where = host === null ? 'across the fleet' : `on ${host}`;
    const title = `${capitalise(action)} ${app}${suffix} ${where}`;
    if (!(await confirmAction(`${title}?`, explain(action, host, reload), capitalise(action)))) return;
    const body: FleetActionBody = { ...extra, ...(host === null ? {} : { host }), ...(action === 'reload' ? reload : {}) };
    this.setBusy(true);
    const log = h('ol', { class: 'progress', 'data-testid': 'action-progress' });
    this.show('running', `${title}…`, [log]);
    let table: Node | null = null;
    try {
      const end = await actOnFleet(app, action, body, (line: FleetActionLine) => {
        if (line.kind === 'progress') log.append(h('li', {}, h('time', {}, clock(Date.now())), ' ', line.message));
        else if (line.kind === 'report') table = reportTable(line.report);
        else if (line.kind === 'hosts') table = hostsTable(line.results);
      });
      if (end.kind === 'result') this.show(end.ok ? 'done' : 'failed', end.message, [table, log]);
      else if (end.kind === 'error') {
        const details = end.error.details ?? [];
        this.show('failed', `${capitalise(action)} failed: ${end.error.message}`, [table, log, details.length > 0 ? h('pre', { class: 'details' }, details.join('\n')) : null]);
      }
    } catch (err) {
      this.show('failed', `${capitalise(action)} failed: ${(err as Error).message}`, [table, log]);
    } finally {
      this.setBusy(false);
      this.afterAction();
    }
  }

  private show(state: PanelState, title: string, body: (Node | null)[]): void {
    showPanel(this.panel, state, title, body);
  }

}

/** The rolling reload's table: each host, what happened, the revision before and after, the time, why. */
function reportTable(report: RolloutReport): HTMLElement {
  const table = new KeyedTable<RolloutHost>([
    { title: 'Host', cell: (r) => r.host },
    { title: 'Result', cell: (r) => ({ text: r.state, cls: `badge ${r.state === 'reloaded' ? 'ok' : BAD_STATES.includes(r.state) ? 'bad' : 'off'}` }) },
    { title: 'Before', cell: (r) => ({ text: r.before ?? '–', cls: 'mono' }) },
    { title: 'After', cell: (r) => ({ text: r.after ?? '–', cls: 'mono' }) },
    { title: 'Time', cls: 'num', cell: (r) => (r.ms === null ? '–' : ms(r.ms)) },
    { title: 'Why', cell: (r) => ({ text: r.message ?? '', cls: 'reason' }) },
  ], (r) => r.host, undefined, 'fleet-report');
  table.update(report.hosts);
  markFailed(table.el, report.hosts.filter((r) => BAD_STATES.includes(r.state)).map((r) => r.host));
  return table.el;
}

/** What each host answered a restart, stop, start or scale. */
function hostsTable(results: HostOutcome[]): HTMLElement {
  const table = new KeyedTable<HostOutcome>([
    { title: 'Host', cell: (o) => o.host },
    { title: 'Result', cell: (o) => ({ text: o.ok ? 'done' : o.code ?? 'failed', cls: `badge ${o.ok ? 'ok' : 'bad'}` }) },
    { title: 'Time', cls: 'num', cell: (o) => ms(o.ms) },
    { title: 'Why', cell: (o) => ({ text: o.message ?? '', cls: 'reason' }) },
  ], (o) => o.host, undefined, 'fleet-report');
  table.update(results);
  markFailed(table.el, results.filter((o) => !o.ok).map((o) => o.host));
  return table.el;
}

function markFailed(table: HTMLElement, hosts: string[]): void {
  for (const tr of table.querySelectorAll<HTMLElement>('tbody tr[data-key]')) tr.classList.toggle('failed-row', hosts.includes(tr.dataset.key ?? ''));
}

