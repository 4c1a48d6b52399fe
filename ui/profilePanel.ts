import type { ProfileLine } from '../src/dashboard/profileRoutes';
import { flameTree, profileProblem, type CpuProfile } from '../src/profile/cpuProfile';
import type { StallProfileView } from '../src/protocol/profile';
import { CSRF_HEADER } from '../src/dashboard/apiTypes';
import { showPanel } from './actions';
import { clock, h } from './dom';
import { flameGraph } from './flameGraph';

/**
 * The app page's CPU profiles: a worker's "Profile 10 s" button runs one
 * and shows its flame graph here; the profiles profileOnStall kept are
 * listed, each opens the same way.
 */
export class ProfilePanel {
  readonly el: HTMLElement;
  private readonly status: HTMLElement;
  private readonly graph: HTMLElement;
  private readonly stored: HTMLElement;
  private busy = false;

  constructor(private readonly app: string) {
    this.status = h('div', { class: 'action-panel', hidden: true, 'data-testid': 'profile-status' });
    this.graph = h('div', { class: 'flame-mount', 'data-testid': 'flame-graph' });
    this.stored = h('ul', { class: 'stall-profiles', 'data-testid': 'stall-profiles' });
    this.el = h('section', { class: 'panel' },
      h('h3', {}, 'CPU profiles'),
      h('p', { class: 'hint' }, 'Profile 10 s on a worker row takes a CPU profile of it (1 ms sampling) and draws its flame graph here: the widest frames are where the time went. Click a frame to zoom in.'),
      this.status, this.graph,
      h('h4', {}, 'Taken on a slow event loop (profileOnStall)'), this.stored);
    void this.refreshStored();
  }

  /** The button of a worker row. */
  button(worker: number): HTMLButtonElement {
    return h('button', { class: 'small', 'data-testid': `profile-${worker}`, onclick: (e: Event) => {
      e.stopPropagation();
      void this.profile(worker);
    } }, 'Profile 10 s');
  }

  async refreshStored(): Promise<void> {
    try {
      const res = await fetch(`/api/apps/${encodeURIComponent(this.app)}/profiles`, { credentials: 'same-origin', cache: 'no-store' });
      if (!res.ok) return;
      const { profiles } = (await res.json()) as { profiles: StallProfileView[] };
      if (profiles.length === 0) {
        this.stored.replaceChildren(h('li', { class: 'hint' }, 'none'));
        return;
      }
      this.stored.replaceChildren(...[...profiles].reverse().map((p) => h('li', {},
        h('time', {}, `${new Date(p.time).toLocaleDateString()} ${clock(p.time)}`), ` worker ${p.worker} (pid ${p.pid}), loop delay ${p.delayMs} ms, ${p.durationMs / 1000} s `,
        h('button', { class: 'link-button', onclick: () => void this.open(p) }, 'open'), h('span', { class: 'hint mono' }, ` ${p.path}`))));
    } catch {
      // The next refresh tries again.
    }
  }

  private async open(p: StallProfileView): Promise<void> {
    const res = await fetch(`/api/apps/${encodeURIComponent(this.app)}/profiles/${encodeURIComponent(p.file)}`, { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) {
      showPanel(this.status, 'failed', `Cannot open ${p.file}: HTTP ${res.status}`, []);
      return;
    }
    this.draw(await res.json(), `worker ${p.worker} at ${clock(p.time)} (loop delay ${p.delayMs} ms)`);
  }

  private async profile(worker: number): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    showPanel(this.status, 'running', `Profiling worker ${worker} of ${this.app} for 10 s…`, []);
    try {
      const res = await fetch(`/api/apps/${encodeURIComponent(this.app)}/workers/${worker}/profile`, {
        method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', [CSRF_HEADER]: '1' }, body: '{}',
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${text}`);
      const lines = text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ProfileLine);
      const result = lines.find((l) => l.kind === 'result');
      if (!result || result.kind !== 'result') throw new Error('no result');
      if (!result.ok) throw new Error(result.error.message);
      this.draw(result.profile, `worker ${worker}${result.pid === null ? '' : ` (pid ${result.pid})`}, ${result.durationMs / 1000} s at ${clock(Date.now())}`);
    } catch (err) {
      showPanel(this.status, 'failed', `Profile failed: ${(err as Error).message}`, []);
    } finally {
      this.busy = false;
    }
  }

  private draw(profile: unknown, what: string): void {
    const problem = profileProblem(profile);
    if (problem) {
      showPanel(this.status, 'failed', `Not a CPU profile: ${problem}`, []);
      return;
    }
    showPanel(this.status, 'done', `Flame graph of ${what}`, []);
    this.graph.replaceChildren(flameGraph(flameTree(profile as CpuProfile)).el);
  }
}
