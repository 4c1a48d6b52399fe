import type { JobQueueView } from '../src/metrics/view';
import { h, ms, num, setText } from './dom';

/** Reads of `waiting` the sparkline keeps (one per page update, about a second apart). */
const HISTORY = 300;
const SVG = 'http://www.w3.org/2000/svg';

const COUNTS: { key: keyof Pick<JobQueueView, 'waiting' | 'prioritized' | 'active' | 'delayed' | 'failed' | 'completed'>; label: string }[] = [
  { key: 'waiting', label: 'Waiting' },
  { key: 'prioritized', label: 'Prioritized' },
  { key: 'active', label: 'Active' },
  { key: 'delayed', label: 'Delayed' },
  { key: 'failed', label: 'Failed' },
  { key: 'completed', label: 'Completed' },
];

/**
 * A queue app's BullMQ queue, as the daemon last read it from Redis: the
 * counts by state, the run time of the newest completed jobs, and the
 * backlog (waiting + prioritized) since the page opened. Hidden for apps
 * without `queue`.
 */
export class QueuePanel {
  readonly el: HTMLElement;
  private readonly values = COUNTS.map(() => h('div', { class: 'value' }, '–'));
  private readonly duration = h('span', {});
  private readonly state = h('span', { class: 'hint' });
  private readonly line: SVGPolylineElement;
  private readonly backlog: number[] = [];

  constructor() {
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${HISTORY} 40`);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('class', 'sparkline');
    this.line = document.createElementNS(SVG, 'polyline');
    this.line.setAttribute('fill', 'none');
    this.line.setAttribute('stroke', 'currentColor');
    this.line.setAttribute('vector-effect', 'non-scaling-stroke');
    svg.append(this.line);
    this.el = h('section', { class: 'panel', hidden: true, 'data-testid': 'queue-panel' },
      h('h3', {}, 'Queue ', this.state),
      h('div', { class: 'tiles' }, ...COUNTS.map((c, i) => h('div', { class: 'tile', 'data-state': c.key }, h('div', { class: 'label' }, c.label), this.values[i] as HTMLElement))),
      h('div', { class: 'hint' }, 'Job run time (newest completed): ', this.duration),
      h('div', { class: 'hint' }, 'Backlog (waiting + prioritized) since this page opened'),
      svg);
  }

  update(jobs: JobQueueView | undefined): void {
    this.el.hidden = jobs === undefined;
    if (!jobs) return;
    COUNTS.forEach((c, i) => setText(this.values[i] as HTMLElement, num(jobs[c.key])));
    setText(this.duration, jobs.duration === null ? '–' : `p50 ${ms(jobs.duration.p50)} · p99 ${ms(jobs.duration.p99)} (last ${jobs.duration.count})`);
    setText(this.state, jobs.at === null ? `(Redis unreadable: ${jobs.error ?? 'unknown'}; last counts shown)` : '');
    this.state.className = jobs.at === null ? 'warn-text' : 'hint';
    if (jobs.at === null) return;
    this.backlog.push(jobs.waiting + jobs.prioritized);
    if (this.backlog.length > HISTORY) this.backlog.shift();
    const top = Math.max(1, ...this.backlog);
    const x0 = HISTORY - this.backlog.length;
    this.line.setAttribute('points', this.backlog.map((v, i) => `${x0 + i},${(40 - (v / top) * 38).toFixed(1)}`).join(' '));
  }
}
