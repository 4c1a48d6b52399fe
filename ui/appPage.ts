import { WINDOWS, type AppPageView } from '../src/dashboard/apiTypes';
import type { RouteView, SeriesView, WorkerMetricsView } from '../src/metrics/view';
import type { WorkerInfo } from '../src/protocol/control';
import { ActionBar } from './actions';
import { alertsTable } from './alertsTable';
import { ChartGrid } from './charts';
import { badge, bytes, clock, duration, h, KeyedTable, ms, num, pct, setText, tone } from './dom';
import { LogTail } from './logTail';
import { ProfilePanel } from './profilePanel';
import { QueuePanel } from './queuePanel';

const WINDOW_LABELS: Record<number, string> = { 300: '5 min', 900: '15 min', 3600: '1 h', 21600: '6 h', 86400: '24 h' };

interface WorkerRow {
  info: WorkerInfo;
  metrics: WorkerMetricsView | undefined;
}

interface Tile {
  label: string;
  value: (v: AppPageView) => string;
  tone?: (v: AppPageView) => string;
  /** Measured by the agent: nothing to show with `metrics: false`. */
  agent?: boolean;
}

const TILES: Tile[] = [
  { label: 'Requests / s', agent: true, value: (v) => num(v.metrics.http.rps) },
  { label: 'Requests', agent: true, value: (v) => num(v.metrics.http.requests) },
  { label: 'In flight', agent: true, value: (v) => num(v.metrics.http.inFlight) },
  { label: 'p50 / p99 (all)', agent: true, value: (v) => `${ms(v.metrics.http.latency.p50)} / ${ms(v.metrics.http.latency.p99)}` },
  { label: '5xx', agent: true, value: (v) => num(v.metrics.http.status['5xx']), tone: (v) => (v.metrics.http.status['5xx'] > 0 ? 'bad-text' : '') },
  { label: 'Shed (503)', agent: true, value: (v) => num(v.metrics.http.shed), tone: (v) => (v.metrics.http.shed > 0 ? 'warn-text' : '') },
  { label: 'CPU', value: (v) => `${v.metrics.cpu.toFixed(0)}%` },
  { label: 'Memory', value: (v) => bytes(v.metrics.memory.rss) },
  { label: 'Event loop p99', agent: true, value: (v) => ms(v.metrics.eventLoop.delay.p99) },
  { label: 'Loop utilisation', agent: true, value: (v) => pct(v.metrics.eventLoop.utilization, 0) },
  { label: 'Restarts', value: (v) => String(v.metrics.restarts) },
  // Autoscaled: the count, the mode and the range (the workers chart has its steps); `held` says what holds it.
  { label: 'Workers', value: (v) => (v.autoscale ? `${v.autoscale.current} · ${v.autoscale.mode} ${v.autoscale.min}..${v.autoscale.max}` : String(v.instances)),
    tone: (v) => (v.autoscale?.held?.startsWith('held at ') ? 'warn-text' : '') },
  { label: 'Connections', agent: true, value: (v) => num(v.metrics.http.connections) },
];

/**
 * One app: live charts over a chosen window, workers, slowest routes, recent
 * events, a log tail, and actions. The series is fetched whole once per
 * window, then only the points after the last one held.
 */
export class AppPage {
  readonly el: HTMLElement;
  private readonly title: HTMLElement;
  private readonly statusBadge: HTMLElement;
  private readonly reason: HTMLElement;
  private readonly meta: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly tiles: HTMLElement[];
  private readonly charts = new ChartGrid();
  private readonly workers: KeyedTable<WorkerRow>;
  private readonly routes: KeyedTable<RouteView>;
  private readonly events: HTMLElement;
  private readonly alerts = alertsTable();
  private readonly alertsPanel: HTMLElement;
  private readonly actions: ActionBar;
  private readonly logs: LogTail;
  private readonly profiles: ProfilePanel;
  private readonly queue = new QueuePanel();
  private updates = 0;
  private readonly windowButtons: HTMLButtonElement[];
  private series: SeriesView | null = null;
  window: number = WINDOWS[0];

  constructor(readonly app: string, back: () => void, refresh: () => void) {
    this.title = h('h2', { 'data-testid': 'app-title' }, app);
    this.statusBadge = badge('…');
    this.statusBadge.dataset.testid = 'app-status';
    this.reason = h('span', { class: 'reason' });
    this.meta = h('div', { class: 'meta' });
    this.banner = h('div', { class: 'banner bad', hidden: true });
    this.tiles = TILES.map(() => h('div', { class: 'value' }, '–'));
    this.actions = new ActionBar(app, refresh);
    this.logs = new LogTail(app);
    this.profiles = new ProfilePanel(app);
    this.windowButtons = WINDOWS.map((w) => h('button', { 'data-window': w, onclick: () => this.setWindow(w, refresh) }, WINDOW_LABELS[w] ?? `${w}s`));
    this.workers = new KeyedTable<WorkerRow>([
      { title: 'Worker', cell: (r) => String(r.info.id) },
      { title: 'PID', cls: 'num', cell: (r) => String(r.info.pid ?? '–') },
      { title: 'Status', cell: (r) => ({ text: r.info.status, cls: `badge ${tone(r.info.status)}`, title: r.info.reason }) },
      { title: 'Uptime', cls: 'num', cell: (r) => (r.info.pid === null ? '–' : duration(r.info.uptimeMs)) },
      { title: 'Restarts', cls: 'num', cell: (r) => String(r.info.restarts) },
      { title: 'CPU', cls: 'num', cell: (r) => `${r.info.cpu.toFixed(0)}%` },
      { title: 'Memory', cls: 'num', cell: (r) => bytes(r.info.memory) },
      { title: 'Req/s', cls: 'num', cell: (r) => num(r.metrics?.http.rps ?? 0) },
      { title: 'p99', cls: 'num', cell: (r) => ms(r.metrics?.http.latency.p99 ?? null) },
      { title: 'In flight', cls: 'num', cell: (r) => num(r.metrics?.http.inFlight ?? 0) },
      { title: 'Loop p99', cls: 'num', cell: (r) => ms(r.metrics?.eventLoop.delay.p99 ?? null) },
      { title: 'Loop use', cls: 'num', cell: (r) => pct(r.metrics?.eventLoop.utilization ?? null, 0) },
      { title: 'Why', cell: (r) => ({ text: r.info.reason, cls: 'reason' }) },
      { title: '', cell: () => '', node: (r) => (r.info.pid === null ? h('span') : this.profiles.button(r.info.id)) },
    ], (r) => `${r.info.id}:${r.info.pid ?? r.info.status}`, undefined, 'workers');
    this.routes = new KeyedTable<RouteView>([
      { title: 'Method', cell: (r) => r.method },
      { title: 'Route', cell: (r) => ({ text: r.route, cls: 'mono' }) },
      { title: 'Requests', cls: 'num', cell: (r) => num(r.requests) },
      { title: '5xx', cls: 'num', cell: (r) => ({ text: num(r.errors), cls: r.errors > 0 ? 'bad-text' : '' }) },
      { title: 'p50', cls: 'num', cell: (r) => ms(r.latency.p50) },
      { title: 'p99', cls: 'num', cell: (r) => ms(r.latency.p99) },
      { title: 'Max', cls: 'num', cell: (r) => ms(r.latency.max) },
    ], (r) => `${r.method} ${r.route}`, undefined, 'routes');
    this.events = h('ol', { class: 'events' });
    this.alertsPanel = h('section', { class: 'panel', hidden: true }, h('h3', {}, 'Alerts firing'), this.alerts.el);

    this.el = h('div', { class: 'page app' },
      h('div', { class: 'app-head' },
        h('button', { class: 'link-button', onclick: back }, '← all apps'),
        this.title, this.statusBadge, this.reason),
      this.meta,
      this.banner,
      this.actions.el,
      this.alertsPanel,
      h('section', { class: 'tiles' }, ...TILES.map((t, i) => h('div', { class: 'tile' }, h('div', { class: 'label' }, t.label), this.tiles[i] as HTMLElement))),
      h('div', { class: 'window-bar' }, h('span', { class: 'hint' }, 'Window'), ...this.windowButtons),
      this.charts.el,
      this.queue.el,
      h('section', { class: 'panel' }, h('h3', {}, 'Workers'), this.workers.el),
      this.profiles.el,
      h('div', { class: 'two' },
        h('section', { class: 'panel' }, h('h3', {}, 'Slowest routes (p99)'), this.routes.el),
        h('section', { class: 'panel' }, h('h3', {}, 'Recent events'), this.events)),
      this.logs.el);
    this.markWindow();
    this.logs.start();
  }

  /** Only the points after this (epoch ms) are asked for; null asks for the whole window. */
  get since(): number | null {
    const times = this.series?.times;
    return times && times.length > 0 ? (times[times.length - 1] as number) : null;
  }

  update(view: AppPageView): void {
    setText(this.statusBadge, view.status);
    this.statusBadge.className = `badge ${tone(view.status)}`;
    setText(this.reason, view.reason);
    setText(this.meta, `${view.script} · ${view.execMode} · ${view.instances} worker${view.instances === 1 ? '' : 's'}${view.listening.length > 0 ? ` · listening on ${view.listening.join(', ')}` : ''}${view.logLinesDropped > 0 ? ` · ${view.logLinesDropped} log lines dropped` : ''}`);
    this.updateBanner(view);
    this.actions.setWorkers(view.instances, view.status === 'stopped');
    TILES.forEach((t, i) => {
      const el = this.tiles[i] as HTMLElement;
      setText(el, view.metrics.metrics || !t.agent ? t.value(view) : '–');
      el.className = `value ${t.tone?.(view) ?? ''}`;
    });
    this.mergeSeries(view.series, view.now);
    if (this.series) this.charts.update(this.series, this.window, view.now);
    this.queue.update(view.metrics.jobs);
    const byPid = new Map(view.metrics.workers.map((w) => [`${w.id}:${w.pid}`, w]));
    this.workers.update(view.workers.map((info) => ({ info, metrics: byPid.get(`${info.id}:${info.pid}`) })));
    this.routes.update(view.slowRoutes, view.metrics.metrics ? 'No requests yet' : 'Metrics are off for this app');
    this.updateEvents(view);
    this.alerts.update(view.alerts.map((a) => ({ ...a, since: view.now - a.since })));
    this.alertsPanel.hidden = view.alerts.length === 0;
    // profileOnStall's list changes rarely: read again every 15 updates.
    if (++this.updates % 15 === 0) void this.profiles.refreshStored();
  }

  destroy(): void {
    this.logs.stop();
    this.charts.destroy();
  }

  private setWindow(w: number, refresh: () => void): void {
    if (w === this.window) return;
    this.window = w;
    this.series = null;
    this.markWindow();
    refresh();
  }

  private markWindow(): void {
    for (const b of this.windowButtons) b.classList.toggle('active', Number(b.dataset.window) === this.window);
  }

  private mergeSeries(fresh: SeriesView, now: number): void {
    const held = this.series;
    if (!held || held.step !== fresh.step) {
      this.series = fresh;
    } else {
      for (const key of Object.keys(fresh) as (keyof SeriesView)[]) {
        if (key === 'step') continue;
        (held[key] as number[]).push(...(fresh[key] as number[]));
      }
    }
    const series = this.series as SeriesView;
    const oldest = now - this.window * 1000;
    const drop = series.times.findIndex((t) => t >= oldest);
    if (drop > 0) {
      for (const key of Object.keys(series) as (keyof SeriesView)[]) if (key !== 'step') (series[key] as number[]).splice(0, drop);
    }
  }

  private updateBanner(view: AppPageView): void {
    this.banner.hidden = view.status !== 'errored';
    if (view.status !== 'errored') return;
    const retry = view.retryAt === null ? '' : ` It tries again at ${clock(view.retryAt)}, or restart it now.`;
    const text = `Crash loop: ${view.reason}.${retry}`;
    if (this.banner.dataset.text === text) return;
    this.banner.dataset.text = text;
    this.banner.replaceChildren(h('strong', {}, text));
    if (view.lastStderr.length > 0) this.banner.append(h('pre', { class: 'details' }, view.lastStderr.join('\n')));
  }

  private updateEvents(view: AppPageView): void {
    const last = view.events[view.events.length - 1];
    const key = last ? `${view.events.length}:${last.time}:${last.message}` : 'none';
    if (this.events.dataset.key === key) return;
    this.events.dataset.key = key;
    this.events.replaceChildren(...[...view.events].reverse().map((e) =>
      h('li', {}, h('time', {}, clock(e.time)), e.worker === null ? ' ' : h('span', { class: 'worker' }, ` [${e.worker}] `), e.message)));
  }
}
