import uPlot from 'uplot';
import type { SeriesView } from '../src/metrics/view';
import { bytes, h, ms, num } from './dom';

type Field = Exclude<keyof SeriesView, 'step' | 'times'>;

interface Line {
  field: Field;
  label: string;
  color: string;
  /** Counts per point (sums) become per-second rates by dividing by the step. */
  perSecond?: boolean;
  /** Ratios shown as percent on the right axis. */
  right?: boolean;
  fill?: boolean;
  /** A count that changes in steps (workers): drawn as a step line. */
  stepped?: boolean;
}

interface ChartSpec {
  id: string;
  title: string;
  lines: Line[];
  format: (v: number) => string;
  /** The right axis, when a line uses it. */
  formatRight?: (v: number) => string;
}

const C = { blue: '#4ea1ff', green: '#3ecf8e', yellow: '#e5c07b', red: '#ff6b6b', orange: '#ff9f43', purple: '#b48cff', teal: '#2ec4b6', grey: '#8b97a8' };

/** The charts of an app's page, in order. */
export const CHARTS: ChartSpec[] = [
  { id: 'rps', title: 'Requests / s', format: num, lines: [
    { field: 'rps', label: 'served', color: C.blue, fill: true },
    { field: 'shed', label: 'shed (503)', color: C.purple, perSecond: true },
  ] },
  { id: 'latency', title: 'Latency', format: ms, lines: [
    { field: 'p50', label: 'p50', color: C.green },
    { field: 'p90', label: 'p90', color: C.yellow },
    { field: 'p99', label: 'p99', color: C.red },
  ] },
  { id: 'status', title: 'Responses / s by status', format: num, lines: [
    { field: 's2xx', label: '2xx', color: C.green, perSecond: true },
    { field: 's3xx', label: '3xx', color: C.blue, perSecond: true },
    { field: 's4xx', label: '4xx', color: C.orange, perSecond: true },
    { field: 'errors', label: '5xx', color: C.red, perSecond: true },
  ] },
  { id: 'cpu', title: 'CPU (% of a core, all workers)', format: (v) => `${v.toFixed(0)}%`, lines: [
    { field: 'cpu', label: 'cpu', color: C.teal, fill: true },
  ] },
  { id: 'memory', title: 'Memory (RSS, all workers)', format: bytes, lines: [
    { field: 'memory', label: 'rss', color: C.purple, fill: true },
  ] },
  { id: 'workers', title: 'Workers (scale steps)', format: (v) => v.toFixed(0), lines: [
    { field: 'workers', label: 'workers', color: C.blue, stepped: true, fill: true },
  ] },
  { id: 'loop', title: 'Event loop', format: ms, formatRight: (v) => `${(v * 100).toFixed(0)}%`, lines: [
    { field: 'eventLoopP99', label: 'delay p99 (worst worker)', color: C.orange },
    { field: 'utilization', label: 'utilisation', color: C.grey, right: true },
  ] },
];

const AXIS = { stroke: '#8b97a8', grid: { stroke: '#263040', width: 1 }, ticks: { stroke: '#263040', width: 1 } };
const HEIGHT = 170;

/** One uPlot chart in a panel, fed from the page's series. */
class Chart {
  readonly panel: HTMLElement;
  private readonly plot: uPlot;
  private range: [number, number] = [0, 1];

  constructor(private readonly spec: ChartSpec, width: number) {
    const target = h('div', { class: 'plot' });
    this.panel = h('section', { class: 'panel chart', 'data-chart': spec.id }, h('h3', {}, spec.title), target);
    const right = spec.lines.some((l) => l.right);
    const zeroBased = (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, max > 0 ? max * 1.1 : 1];
    this.plot = new uPlot({
      width,
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: {
        x: { time: true, range: () => this.range },
        y: { range: zeroBased },
        ...(right ? { r: { range: (_u: uPlot, _min: number, max: number): uPlot.Range.MinMax => [0, Math.max(1, max)] } } : {}),
      },
      axes: [
        { ...AXIS },
        { ...AXIS, size: 64, values: (_u, ticks) => ticks.map((t) => spec.format(t)) },
        ...(right ? [{ ...AXIS, scale: 'r', side: 1 as const, size: 48, grid: { show: false }, values: (_u: uPlot, ticks: number[]) => ticks.map((t) => (spec.formatRight ?? spec.format)(t)) }] : []),
      ],
      series: [
        {},
        ...spec.lines.map((l) => ({
          label: l.label,
          stroke: l.color,
          width: 1.5,
          scale: l.right ? 'r' : 'y',
          fill: l.fill ? `${l.color}22` : undefined,
          points: { show: false },
          ...(l.stepped ? { paths: uPlot.paths.stepped?.({ align: 1 }) } : {}),
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : (l.right ? (spec.formatRight ?? spec.format) : spec.format)(v)),
        })),
      ],
    }, [[], ...spec.lines.map(() => [])], target);
  }

  /** `range`: the window in epoch seconds, so the chart moves with time even without points. */
  update(series: SeriesView, range: [number, number]): void {
    this.range = range;
    const times = series.times.map((t) => t / 1000);
    const columns = this.spec.lines.map((l) => (l.perSecond && series.step > 1 ? series[l.field].map((v) => v / series.step) : series[l.field]));
    this.plot.setData([times, ...columns]);
    // What the chart shows, for tests and for anyone inspecting the page.
    const first = columns[0] ?? [];
    this.panel.dataset.points = String(times.length);
    this.panel.dataset.last = String(first[first.length - 1] ?? '');
  }

  resize(width: number): void {
    if (Math.abs(this.plot.width - width) > 1) this.plot.setSize({ width, height: HEIGHT });
  }

  destroy(): void {
    this.plot.destroy();
  }
}

/** Every chart of the page in a grid; each chart follows its own panel's width. */
export class ChartGrid {
  readonly el: HTMLElement;
  private readonly charts: Chart[];
  private readonly observer: ResizeObserver;

  constructor() {
    this.el = h('div', { class: 'charts' });
    // Until the panels are laid out, a guess; the observer corrects it on the first layout.
    const guess = Math.max(240, Math.floor(Math.min(window.innerWidth, 1600) / 3) - 60);
    this.charts = CHARTS.map((spec) => new Chart(spec, guess));
    this.el.append(...this.charts.map((c) => c.panel));
    const byPanel = new Map<Element, Chart>(this.charts.map((c) => [c.panel, c]));
    this.observer = new ResizeObserver((entries) => {
      for (const entry of entries) byPanel.get(entry.target)?.resize(Math.floor(entry.contentRect.width));
    });
    for (const c of this.charts) this.observer.observe(c.panel);
  }

  update(series: SeriesView, windowSeconds: number, now: number): void {
    const end = now / 1000;
    const range: [number, number] = [end - windowSeconds, end];
    for (const c of this.charts) c.update(series, range);
  }

  destroy(): void {
    this.observer.disconnect();
    for (const c of this.charts) c.destroy();
  }
}
