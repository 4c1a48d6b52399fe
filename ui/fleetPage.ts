import type { FleetPageView } from '../src/dashboard/apiTypes';
import type { FleetAppTotal, FleetHostView, FleetView } from '../src/fleet/status';
import { bytes, h, KeyedTable, ms, num, pct, setText, tone } from './dom';
import { FleetActions } from './fleetActions';

type HostApp = FleetHostView['apps'][number] & { host: string };

/**
 * The fleet this host joined, as its registry in Redis shows it: every host
 * (up or down), each host's apps, totals per app, and actions fleet-wide or
 * on one host. Redis unreachable, and a host in no fleet, are said plainly.
 */
export class FleetPage {
  readonly el: HTMLElement;
  private readonly summary: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly off: HTMLElement;
  private readonly body: HTMLElement;
  private readonly hosts: KeyedTable<FleetHostView & { self: boolean }>;
  private readonly apps: KeyedTable<FleetAppTotal>;
  private readonly hostApps: KeyedTable<HostApp>;
  private readonly actions: FleetActions;

  constructor(refresh: () => void) {
    this.actions = new FleetActions(refresh);
    this.summary = h('p', { class: 'hint', 'data-testid': 'fleet-summary' });
    this.banner = h('div', { class: 'banner bad', hidden: true, 'data-testid': 'fleet-redis' });
    this.off = h('section', { class: 'panel', hidden: true, 'data-testid': 'fleet-off' });
    this.hosts = new KeyedTable([
      { title: 'Host', cell: (x) => ({ text: x.self ? `${x.name} (this)` : x.name, cls: 'app-name' }) },
      { title: 'Address', cell: (x) => ({ text: x.address || '–', cls: 'mono' }) },
      { title: 'herd', cell: (x) => x.version || '–' },
      { title: 'Last seen', cls: 'num', cell: (x) => `${x.lastSeenS.toFixed(1)} s ago` },
      { title: 'State', cell: (x) => ({ text: x.online ? 'up' : x.problem ? `refused: ${x.problem}` : 'down', cls: `badge ${x.online ? 'ok' : 'bad'}` }) },
      { title: 'Apps', cls: 'num', cell: (x) => (x.online ? String(x.apps.length) : '–') },
    ], (x) => x.name, undefined, 'fleet-hosts');
    this.apps = new KeyedTable<FleetAppTotal>([
      { title: 'App', cell: (a) => ({ text: a.name, cls: 'app-name' }) },
      { title: 'Hosts', cls: 'num', cell: (a) => String(a.hosts) },
      { title: 'Workers', cls: 'num', cell: (a) => ({ text: `${a.online}/${a.workers}`, cls: a.online < a.workers ? 'warn-text' : '' }) },
      { title: 'Revisions', cell: (a) => ({ text: a.revisions.join(', '), cls: a.revisions.length > 1 ? 'mono warn-text' : 'mono', title: a.revisions.length > 1 ? 'the hosts run different code' : '' }) },
      { title: 'Req/s', cls: 'num', cell: (a) => num(a.rps) },
      { title: 'p50', cls: 'num', cell: (a) => ms(a.rps > 0 ? a.p50 : null) },
      { title: 'p99', cls: 'num', cell: (a) => ms(a.rps > 0 ? a.p99 : null) },
      { title: '5xx', cls: 'num', cell: (a) => ({ text: pct(a.rps > 0 ? a.errorRate : null, 2), cls: a.errorRate > 0 ? 'bad-text' : '' }) },
      { title: 'CPU', cls: 'num', cell: (a) => `${a.cpu.toFixed(0)}%` },
      { title: 'Memory', cls: 'num', cell: (a) => bytes(a.memory) },
      { title: 'Every host', cell: () => '', node: (a) => this.actions.buttons(a.name, null, Math.round(a.workers / Math.max(1, a.hosts))) },
    ], (a) => a.name, undefined, 'fleet-apps');
    this.hostApps = new KeyedTable<HostApp>([
      { title: 'Host', cell: (a) => a.host },
      { title: 'App', cell: (a) => ({ text: a.name, cls: 'app-name' }) },
      { title: 'Status', cell: (a) => ({ text: a.status, cls: `badge ${tone(a.status)}` }) },
      { title: 'Workers', cls: 'num', cell: (a) => ({ text: `${a.online}/${a.workers}`, cls: a.online < a.workers ? 'warn-text' : '' }) },
      {
        title: 'Revision',
        cell: (a) => (a.disk && a.disk !== a.revision
          ? { text: `${a.revision} (on disk: ${a.disk})`, cls: 'mono warn-text', title: 'the code on disk differs: a deploy not reloaded yet' }
          : { text: a.revision, cls: 'mono' }),
      },
      { title: 'Req/s', cls: 'num', cell: (a) => num(a.rps) },
      { title: 'p99', cls: 'num', cell: (a) => ms(a.rps > 0 ? a.p99 : null) },
      { title: '5xx', cls: 'num', cell: (a) => ({ text: pct(a.rps > 0 ? a.errorRate : null, 2), cls: a.errorRate > 0 ? 'bad-text' : '' }) },
      { title: 'CPU', cls: 'num', cell: (a) => `${a.cpu.toFixed(0)}%` },
      { title: 'Memory', cls: 'num', cell: (a) => bytes(a.memory) },
      { title: 'This host', cell: () => '', node: (a) => this.actions.buttons(a.name, a.host, a.workers) },
    ], (a) => `${a.host}/${a.name}`, undefined, 'fleet-host-apps');
    this.body = h('div', {},
      this.banner,
      this.actions.panel,
      h('section', { class: 'panel' }, h('h3', {}, 'Apps across the fleet'),
        h('p', { class: 'hint' }, 'Req/s, p99 and 5xx over the last 10 seconds; fleet p50 and p99 from the hosts\' latency buckets merged, never averaged.'),
        this.actions.options, this.apps.el),
      h('section', { class: 'panel' }, h('h3', {}, 'Hosts'), this.hosts.el),
      h('section', { class: 'panel' }, h('h3', {}, 'Apps on each host'), this.hostApps.el));
    this.el = h('div', { class: 'page fleet' }, h('div', { class: 'app-head' }, h('h2', { 'data-testid': 'fleet-title' }, 'Fleet'), this.summary), this.off, this.body);
  }

  update(view: FleetPageView): void {
    this.off.hidden = view.joined;
    this.body.hidden = !view.joined;
    if (!view.joined) {
      setText(this.summary, '');
      if (this.off.dataset.hint !== view.hint) {
        this.off.dataset.hint = view.hint;
        this.off.replaceChildren(h('h3', {}, 'This host has joined no fleet'), h('p', {}, 'To join one: ', h('code', {}, view.hint), '.'));
      }
      return;
    }
    this.updateFleet(view.fleet);
  }

  private updateFleet(f: FleetView): void {
    const up = f.hosts.filter((x) => x.online).length;
    setText(this.summary, f.redis.ok ? `registry ${f.redis.url} · ${up} of ${f.hosts.length} host(s) up · this host is ${f.self}` : `registry ${f.redis.url} · this host is ${f.self}`);
    this.banner.hidden = f.redis.ok;
    setText(this.banner, f.redis.ok ? '' : `Redis at ${f.redis.url} cannot be reached: ${f.redis.error ?? 'unknown'}. Every host keeps serving and supervising on its own; fleet figures and actions come back when Redis answers.`);
    this.hosts.update(f.hosts.map((x) => ({ ...x, self: x.name === f.self })), f.redis.ok ? 'No host registered yet' : 'The registry cannot be read');
    this.apps.update(f.apps, f.redis.ok ? 'No app runs on a host that is up' : 'The registry cannot be read');
    this.hostApps.update(f.hosts.flatMap((x) => x.apps.map((a) => ({ ...a, host: x.name }))), 'none');
    for (const tr of this.hosts.el.querySelectorAll<HTMLElement>('tbody tr[data-key]')) {
      tr.classList.toggle('failed-row', f.hosts.some((x) => x.name === tr.dataset.key && !x.online));
    }
  }
}
