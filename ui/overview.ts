import { RECENT_SECONDS, type OverviewApp, type OverviewView } from '../src/dashboard/apiTypes';
import { bytes, duration, h, KeyedTable, ms, num, pct, tone, type Column } from './dom';
import { alertsTable } from './alertsTable';

/** Every app at a glance; a row opens the app's page. */
export class OverviewPage {
  readonly el: HTMLElement;
  private readonly apps: KeyedTable<OverviewApp>;
  private readonly alerts = alertsTable();
  private readonly alertsPanel: HTMLElement;

  constructor(open: (app: string) => void) {
    const columns: Column<OverviewApp>[] = [
      { title: 'App', cell: (a) => ({ text: a.name, cls: 'app-name' }) },
      { title: 'Status', cell: (a) => ({ text: a.status, cls: `badge ${tone(a.status)}`, title: a.reason }) },
      { title: 'Workers', cls: 'num', cell: (a) => ({ text: `${a.workers.online}/${a.workers.total}`, cls: a.workers.online < a.workers.total ? 'warn-text' : '' }) },
      { title: 'Req/s', cls: 'num', cell: (a) => (a.metrics ? num(a.rps) : '–') },
      { title: 'p99', cls: 'num', cell: (a) => (a.metrics ? ms(a.p99) : '–') },
      { title: 'Errors', cls: 'num', cell: (a) => ({ text: a.metrics ? pct(a.errorRate, 2) : '–', cls: (a.errorRate ?? 0) > 0 ? 'bad-text' : '' }) },
      { title: 'CPU', cls: 'num', cell: (a) => `${a.cpu.toFixed(0)}%` },
      { title: 'Memory', cls: 'num', cell: (a) => bytes(a.memory) },
      { title: 'Restarts', cls: 'num', cell: (a) => String(a.restarts) },
      { title: 'Alerts', cls: 'num', cell: (a) => ({ text: a.alerts > 0 ? `${a.alerts} firing` : '–', cls: a.alerts > 0 ? 'bad-text' : '' }) },
    ];
    this.apps = new KeyedTable(columns, (a) => a.name, (a) => open(a.name), 'apps');
    this.alertsPanel = h('section', { class: 'panel', hidden: true }, h('h3', {}, 'Alerts firing'), this.alerts.el);
    this.el = h('div', { class: 'page overview' },
      h('section', { class: 'panel' }, h('h2', {}, 'Apps'), h('p', { class: 'hint' }, `Req/s, p99 and errors over the last ${RECENT_SECONDS} seconds. Click an app for its charts, workers, routes and logs.`), this.apps.el),
      this.alertsPanel);
  }

  update(view: OverviewView): void {
    this.apps.update(view.apps, 'No apps yet: herd start <script|config>');
    this.alerts.update(view.alerts.map((a) => ({ ...a, since: view.now - a.since })));
    this.alertsPanel.hidden = view.alerts.length === 0;
  }
}

export function uptimeText(view: OverviewView): string {
  return `${view.host} · herd ${view.version} · daemon up ${duration(view.uptimeMs)}`;
}
