import type { DashboardLogLine } from '../src/dashboard/apiTypes';
import { clock, h, setText } from './dom';

/** Lines kept on screen; older ones scroll away. */
const SHOWN = 1000;
/** Lines kept while paused; past that the oldest held ones are dropped (and counted). */
const HELD = 5000;

type Stream = DashboardLogLine['stream'];

/**
 * A live tail of one app's logs over Server-Sent Events: the last lines on
 * disk, then every new one. Filter by text (or /regex/) and stream; pause
 * holds new lines until resumed; it follows the bottom unless scrolled up.
 */
export class LogTail {
  readonly el: HTMLElement;
  private readonly list: HTMLElement;
  private readonly status: HTMLElement;
  private readonly pauseButton: HTMLButtonElement;
  private source: EventSource | null = null;
  private lines: DashboardLogLine[] = [];
  private held: DashboardLogLine[] = [];
  private droppedWhilePaused = 0;
  private paused = false;
  private filter: (l: DashboardLogLine) => boolean = () => true;
  private readonly streams = new Set<Stream>(['out', 'err', 'access']);
  private skipped = 0;

  constructor(private readonly app: string) {
    this.list = h('div', { class: 'log-lines', 'data-testid': 'log-lines', tabindex: 0 });
    this.status = h('span', { class: 'log-status' });
    this.pauseButton = h('button', { 'data-testid': 'log-pause', onclick: () => this.togglePause() }, 'Pause');
    const filterInput = h('input', { type: 'search', placeholder: 'filter (text or /regex/)', 'aria-label': 'filter', 'data-testid': 'log-filter' });
    filterInput.addEventListener('input', () => {
      this.filter = matcher(filterInput.value);
      filterInput.classList.toggle('invalid', this.filter === INVALID);
      this.redraw();
    });
    const streamToggle = (stream: Stream, label: string) => {
      const box = h('input', { type: 'checkbox', checked: true, 'data-stream': stream });
      box.addEventListener('change', () => {
        if (box.checked) this.streams.add(stream);
        else this.streams.delete(stream);
        this.redraw();
      });
      return h('label', { class: 'toggle' }, box, label);
    };
    this.el = h('section', { class: 'panel logs' },
      h('div', { class: 'log-bar' }, h('h3', {}, 'Logs'), filterInput, streamToggle('out', 'stdout'), streamToggle('err', 'stderr'), streamToggle('access', 'access'),
        this.pauseButton, h('button', { onclick: () => this.clear() }, 'Clear'), this.status),
      this.list);
  }

  start(): void {
    const source = new EventSource(`/api/logs?app=${encodeURIComponent(this.app)}`);
    this.source = source;
    source.addEventListener('history', (e) => {
      // Sent first on every (re)connection: it replaces what is shown.
      this.lines = JSON.parse((e as MessageEvent<string>).data) as DashboardLogLine[];
      this.held = [];
      this.redraw();
      this.setStatus();
    });
    source.addEventListener('line', (e) => this.add(JSON.parse((e as MessageEvent<string>).data) as DashboardLogLine));
    source.addEventListener('skipped', (e) => {
      this.skipped += Number((e as MessageEvent<string>).data) || 0;
      this.setStatus();
    });
    source.addEventListener('error', () => this.setStatus('reconnecting…'));
    source.addEventListener('open', () => this.setStatus());
  }

  stop(): void {
    this.source?.close();
    this.source = null;
  }

  private add(line: DashboardLogLine): void {
    if (this.paused) {
      this.held.push(line);
      if (this.held.length > HELD) {
        this.held.shift();
        this.droppedWhilePaused++;
      }
      setText(this.pauseButton, `Resume (${this.held.length} new)`);
      return;
    }
    this.lines.push(line);
    if (this.lines.length > SHOWN) this.lines.splice(0, this.lines.length - SHOWN);
    if (!this.visible(line)) return;
    const follow = this.atBottom();
    this.list.append(row(line));
    while (this.list.childElementCount > SHOWN) this.list.firstElementChild?.remove();
    if (follow) this.list.scrollTop = this.list.scrollHeight;
  }

  private togglePause(): void {
    this.paused = !this.paused;
    if (!this.paused) {
      const held = this.held;
      this.held = [];
      this.lines.push(...held);
      if (this.lines.length > SHOWN) this.lines.splice(0, this.lines.length - SHOWN);
      this.redraw();
    }
    this.pauseButton.classList.toggle('active', this.paused);
    setText(this.pauseButton, this.paused ? 'Resume (0 new)' : 'Pause');
    this.setStatus();
  }

  private clear(): void {
    this.lines = [];
    this.redraw();
  }

  private redraw(): void {
    this.list.replaceChildren(...this.lines.filter((l) => this.visible(l)).map(row));
    this.list.scrollTop = this.list.scrollHeight;
  }

  private visible(line: DashboardLogLine): boolean {
    return this.streams.has(line.stream) && this.filter(line);
  }

  private atBottom(): boolean {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 24;
  }

  private setStatus(connection = ''): void {
    const parts = [connection, this.paused ? 'paused' : ''];
    if (this.skipped > 0) parts.push(`${this.skipped} lines skipped (the page fell behind)`);
    if (this.droppedWhilePaused > 0) parts.push(`${this.droppedWhilePaused} lines not held while paused`);
    setText(this.status, parts.filter(Boolean).join(' · '));
  }
}

const INVALID = () => true;

function matcher(text: string): (l: DashboardLogLine) => boolean {
  const trimmed = text.trim();
  if (trimmed === '') return () => true;
  const re = /^\/(.+)\/([imsu]*)$/.exec(trimmed);
  if (re) {
    try {
      const regex = new RegExp(re[1] as string, re[2]);
      return (l) => regex.test(l.msg);
    } catch {
      return INVALID;
    }
  }
  const needle = trimmed.toLowerCase();
  return (l) => l.msg.toLowerCase().includes(needle);
}

function row(line: DashboardLogLine): HTMLElement {
  return h('div', { class: `log-line ${line.stream}` },
    h('time', {}, clock(line.time)), h('span', { class: 'worker' }, `[${line.worker}]`), h('span', { class: 'msg' }, line.msg));
}
