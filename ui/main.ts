import * as api from './api';
import { AppPage } from './appPage';
import { h, setText } from './dom';
import { FleetPage } from './fleetPage';
import { OverviewPage, uptimeText } from './overview';

/** How often the page asks the daemon for fresh figures (the daemon aggregates once a second). */
const POLL_MS = 1000;

type Page = { kind: 'overview'; page: OverviewPage } | { kind: 'app'; page: AppPage } | { kind: 'fleet'; page: FleetPage };

/**
 * The dashboard page: a hash router between the overview (#/), one app
 * (#/app/NAME) and the fleet (#/fleet), polling the daemon's JSON API once a second, one request at
 * a time. Render time per update is marked for the benchmark
 * (performance measure 'herd-render').
 */
class Dashboard {
  private readonly main: HTMLElement;
  private readonly hostInfo: HTMLElement;
  private readonly connection: HTMLElement;
  private readonly nav: HTMLAnchorElement[];
  private page: Page | null = null;
  private timer: number | undefined;
  private generation = 0;
  private controller: AbortController | null = null;

  constructor(root: HTMLElement) {
    this.hostInfo = h('span', { class: 'host' });
    this.connection = h('span', { class: 'connection', 'data-testid': 'connection' }, 'connecting…');
    this.main = h('main', {});
    this.nav = [
      h('a', { class: 'nav', href: '#/', 'data-view': 'overview', 'data-testid': 'nav-apps' }, 'Apps'),
      h('a', { class: 'nav', href: '#/fleet', 'data-view': 'fleet', 'data-testid': 'nav-fleet' }, 'Fleet'),
    ];
    root.replaceChildren(
      h('header', {}, h('a', { class: 'brand', href: '#/' }, 'herd'), h('nav', {}, ...this.nav), this.hostInfo, this.connection),
      this.main);
    window.addEventListener('hashchange', () => this.route());
  }

  route(): void {
    if (this.page?.kind === 'app') this.page.page.destroy();
    const m = /^#\/app\/(.+)$/.exec(location.hash);
    if (m) {
      const name = decodeURIComponent(m[1] as string);
      this.page = { kind: 'app', page: new AppPage(name, () => (location.hash = '#/'), () => this.refresh()) };
      document.title = `${name} · herd`;
    } else if (location.hash === '#/fleet') {
      this.page = { kind: 'fleet', page: new FleetPage(() => this.refresh()) };
      document.title = 'fleet · herd';
    } else {
      this.page = { kind: 'overview', page: new OverviewPage((name) => (location.hash = `#/app/${encodeURIComponent(name)}`)) };
      document.title = 'herd';
    }
    const view = this.page.kind === 'fleet' ? 'fleet' : 'overview';
    for (const a of this.nav) a.classList.toggle('active', a.dataset.view === view);
    this.main.replaceChildren(this.page.page.el);
    this.refresh();
  }

  /** Poll now (after an action, a window change or a route change) and then every POLL_MS. */
  refresh(): void {
    window.clearTimeout(this.timer);
    this.controller?.abort();
    const generation = ++this.generation;
    const controller = new AbortController();
    this.controller = controller;
    void this.poll(controller.signal).then((keepGoing) => {
      if (keepGoing && generation === this.generation) this.timer = window.setTimeout(() => this.refresh(), POLL_MS);
    });
  }

  private async poll(signal: AbortSignal): Promise<boolean> {
    const page = this.page;
    if (!page) return false;
    try {
      if (page.kind === 'overview') {
        const view = await api.overview(signal);
        this.render(() => {
          page.page.update(view);
          setText(this.hostInfo, uptimeText(view));
        });
      } else if (page.kind === 'fleet') {
        const view = await api.fleet(signal);
        this.render(() => page.page.update(view));
      } else {
        const app = page.page;
        const view = await api.appPage(app.app, app.window, app.since, signal);
        this.render(() => app.update(view));
      }
      this.connected(true);
      return true;
    } catch (err) {
      if (signal.aborted) return false;
      if (err instanceof api.Unauthorised) {
        this.main.replaceChildren(h('section', { class: 'panel' }, h('h2', {}, 'Signed out'), h('p', {}, 'The daemon no longer accepts this session. Open the URL that `herd dashboard` prints.')));
        this.connected(false, 'signed out');
        return false;
      }
      if (err instanceof api.NotFound && page.kind === 'app') {
        // Deleted meanwhile: back to the overview, which no longer lists it.
        location.hash = '#/';
        return false;
      }
      this.connected(false, (err as Error).message);
      return true;
    }
  }

  private render(update: () => void): void {
    const start = performance.now();
    update();
    performance.measure('herd-render', { start, end: performance.now() });
    // Keep the buffer small: the benchmark reads the recent entries.
    if (performance.getEntriesByName('herd-render').length > 600) performance.clearMeasures('herd-render');
  }

  private connected(ok: boolean, why = ''): void {
    setText(this.connection, ok ? 'live' : `disconnected: ${why}`);
    this.connection.className = `connection ${ok ? 'ok' : 'bad'}`;
  }
}

const root = document.getElementById('root');
if (root) new Dashboard(root).route();
