/**
 * A line chart as inline SVG, drawn here rather than by a chart library in
 * the page: the report is one HTML file that opens offline, needs no script
 * to show its figures, and prints.
 */
export interface ChartSeries {
  name: string;
  values: readonly number[];
}

export interface Chart {
  title: string;
  /** Appended to the y-axis labels: 'ms', '%', '/s', 'MB'. */
  unit: string;
  /** x values (seconds since start), one per value of each series. */
  xs: readonly number[];
  series: readonly ChartSeries[];
}

export const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];

const W = 560;
const H = 220;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** A "nice" upper bound for the axis (1, 2 or 5 times a power of ten), never 0. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function label(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e4) return `${+(v / 1e3).toFixed(1)}k`;
  return String(+v.toFixed(v < 10 ? 2 : 0));
}

/** More points than a chart is pixels wide add nothing but bytes: a long run is drawn from bucket maxima (peaks stay visible). */
export const MAX_POINTS = 600;

export function downsample(c: Chart): Chart {
  const n = c.xs.length;
  if (n <= MAX_POINTS) return c;
  const size = Math.ceil(n / MAX_POINTS);
  const xs: number[] = [];
  for (let i = 0; i < n; i += size) xs.push(c.xs[i] as number);
  return {
    ...c,
    xs,
    series: c.series.map((s) => {
      const values: number[] = [];
      for (let i = 0; i < n; i += size) values.push(Math.max(...s.values.slice(i, i + size).map((v) => (Number.isFinite(v) ? v : 0))));
      return { name: s.name, values };
    }),
  };
}

export function svgChart(chart: Chart): string {
  const c = downsample(chart);
  const top = niceMax(Math.max(0, ...c.series.flatMap((s) => s.values.filter(Number.isFinite))));
  const xMin = c.xs[0] ?? 0;
  const xMax = Math.max(xMin + 1, c.xs[c.xs.length - 1] ?? 1);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (v: number) => PAD.left + ((v - xMin) / (xMax - xMin)) * plotW;
  const y = (v: number) => PAD.top + plotH - (Math.min(v, top) / top) * plotH;
  const parts: string[] = [];
  // 5 steps of 1, 2 or 10 for a top of 5 or 10 (or 1), 4 steps of 5 for a top of 2: round labels.
  const steps = /^2/.test(String(top)) ? 4 : 5;
  for (let i = 0; i <= steps; i++) {
    const v = (top * i) / steps;
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}"/>`,
      `<text class="ylabel" x="${PAD.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${escapeHtml(label(v) + c.unit)}</text>`);
  }
  // Whole seconds, at most about 7 labels.
  const xStep = Math.max(1, Math.ceil((xMax - xMin) / 6));
  for (let v = xMin; v <= xMax + 1e-9; v += xStep) {
    parts.push(`<text class="xlabel" x="${x(v).toFixed(1)}" y="${H - 8}" text-anchor="middle">${escapeHtml(`${+v.toFixed(1)}s`)}</text>`);
  }
  c.series.forEach((s, i) => {
    const points = s.values.map((v, k) => `${x(c.xs[k] ?? k).toFixed(1)},${y(Number.isFinite(v) ? v : 0).toFixed(1)}`).join(' ');
    parts.push(`<polyline class="line" data-series="${escapeHtml(s.name)}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.8" points="${points}"/>`);
  });
  const legend = c.series.map((s, i) => `<span class="key"><i style="background:${PALETTE[i % PALETTE.length]}"></i>${escapeHtml(s.name)}</span>`).join('');
  return `<figure class="chart"><figcaption>${escapeHtml(c.title)}</figcaption>` +
    `<svg viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(c.title)}">${parts.join('')}</svg>` +
    `<div class="legend">${legend}</div></figure>`;
}
