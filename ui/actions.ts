import type { ActionLine, ActionName } from '../src/dashboard/apiTypes';
import { act } from './api';
import { clock, h } from './dom';

const EXPLAIN: Record<ActionName, string> = {
  reload: 'Rolling reload: each worker is replaced by a new one started from the code on disk, new first, then the old one drains. If a new worker fails, the reload stops and the old workers keep serving.',
  restart: 'Every worker stops, then new ones start. The port stays bound, so connections wait instead of failing, but requests are delayed meanwhile.',
  stop: 'Every worker drains and stops; the port is released. The app stays listed and can be started again.',
  start: 'Start the app\'s workers again with the settings it had.',
  scale: 'Change the number of workers live; removed workers drain first.',
};

/** Asks before acting. Resolves true on confirm. */
export function confirmAction(title: string, text: string, verb: string): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      overlay.remove();
      document.removeEventListener('keydown', onKey);
      resolve(ok);
    };
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape') done(false);
    };
    const confirmButton = h('button', { class: 'primary', 'data-testid': 'confirm', onclick: () => done(true) }, verb);
    const overlay = h('div', { class: 'overlay', role: 'dialog', 'aria-modal': 'true' },
      h('div', { class: 'dialog' },
        h('h2', {}, title),
        h('p', {}, text),
        h('div', { class: 'buttons' }, h('button', { 'data-testid': 'cancel', onclick: () => done(false) }, 'Cancel'), confirmButton)));
    document.body.append(overlay);
    document.addEventListener('keydown', onKey);
    confirmButton.focus();
  });
}

/**
 * The action bar of an app: buttons, a scale input, and a panel that shows
 * the running action's progress and its result (kept until dismissed).
 */
export class ActionBar {
  readonly el: HTMLElement;
  private readonly panel: HTMLElement;
  private readonly buttons: HTMLButtonElement[] = [];
  private readonly scaleInput: HTMLInputElement;
  private busy = false;

  constructor(private readonly app: string, private readonly afterAction: () => void) {
    const button = (action: Exclude<ActionName, 'scale'>, label: string, cls = '') => {
      const b = h('button', { class: cls, 'data-action': action, onclick: () => void this.run(action, {}) }, label);
      this.buttons.push(b);
      return b;
    };
    this.scaleInput = h('input', { type: 'number', min: 0, max: 1024, value: '', 'aria-label': 'workers', 'data-testid': 'scale-input' });
    const scaleButton = h('button', { 'data-action': 'scale', onclick: () => void this.scale() }, 'Scale');
    this.buttons.push(scaleButton);
    this.panel = h('div', { class: 'action-panel', hidden: true, 'data-testid': 'action-panel' });
    this.el = h('div', { class: 'actions' },
      h('div', { class: 'action-buttons' },
        button('reload', 'Reload', 'primary'), button('restart', 'Restart'), button('stop', 'Stop', 'danger'), button('start', 'Start'),
        h('span', { class: 'scale' }, this.scaleInput, scaleButton)),
      this.panel);
  }

  /** Keeps the scale input at the current worker count unless the user is editing it. */
  setWorkers(count: number, stopped: boolean): void {
    if (document.activeElement !== this.scaleInput && this.scaleInput.value !== String(count)) this.scaleInput.value = String(count);
    for (const b of this.buttons) {
      const action = b.dataset.action;
      b.disabled = this.busy || (action === 'start' && !stopped) || ((action === 'stop' || action === 'reload') && stopped);
    }
  }

  private async scale(): Promise<void> {
    const value = this.scaleInput.value.trim();
    if (!/^\d+$/.test(value)) {
      this.show('failed', `Scale needs a whole number of workers; got "${value}".`, []);
      return;
    }
    await this.run('scale', { count: Number(value) }, ` to ${value} workers`);
  }

  private async run(action: ActionName, body: Record<string, unknown>, suffix = ''): Promise<void> {
    if (this.busy) return;
    const ok = await confirmAction(`${capitalise(action)} ${this.app}${suffix}?`, EXPLAIN[action], capitalise(action));
    if (!ok) return;
    this.busy = true;
    for (const b of this.buttons) b.disabled = true;
    const log = h('ol', { class: 'progress', 'data-testid': 'action-progress' });
    this.show('running', `${capitalise(action)} ${this.app}${suffix}…`, [log]);
    const addLine = (text: string) => log.append(h('li', {}, h('time', {}, clock(Date.now())), ' ', text));
    try {
      const result = await act(this.app, action, body, (line: ActionLine) => {
        if (line.kind === 'progress') addLine(line.message);
      });
      if (result.kind === 'result' && result.ok) this.show('done', result.message, [log]);
      else if (result.kind === 'result') {
        const details = result.error.details ?? [];
        this.show('failed', `${capitalise(action)} failed: ${result.error.message}`, [log, details.length > 0 ? h('pre', { class: 'details' }, details.join('\n')) : null]);
      }
    } catch (err) {
      this.show('failed', `${capitalise(action)} failed: ${(err as Error).message}`, [log]);
    } finally {
      this.busy = false;
      this.afterAction();
    }
  }

  private show(state: PanelState, title: string, body: (Node | null)[]): void {
    showPanel(this.panel, state, title, body);
  }

}

export type PanelState = 'running' | 'done' | 'failed';

/** An action's result panel: its state, a title (with a spinner while running, else a dismiss button) and what it said. */
export function showPanel(panel: HTMLElement, state: PanelState, title: string, body: (Node | null)[]): void {
  panel.hidden = false;
  panel.className = `action-panel ${state}`;
  panel.dataset.state = state;
  panel.replaceChildren(
    h('div', { class: 'action-title' }, state === 'running' ? h('span', { class: 'spinner' }) : null, h('strong', { 'data-testid': 'action-result' }, title),
      state === 'running' ? null : h('button', { class: 'link-button', onclick: () => (panel.hidden = true) }, 'dismiss')),
    ...body.filter((n): n is Node => n !== null));
}

export function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
