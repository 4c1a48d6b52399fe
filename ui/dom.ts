/**
 * DOM helpers and formatters. Every text that comes from the daemon (app
 * names, log lines, errors) goes in as textContent, never as HTML.
 */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** Sets text only when it changed, so a redraw every second touches nothing that stayed the same. */
export function setText(el: Element, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setClass(el: Element, cls: string): void {
  if (el.className !== cls) el.className = cls;
}

export function bytes(n: number): string {
  if (!Number.isFinite(n) || n <= 0) return '0 B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  const i = Math.min(units.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  const v = n / 1024 ** i;
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function ms(v: number | null): string {
  if (v === null || !Number.isFinite(v)) return '–';
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 100) return `${v.toFixed(0)} ms`;
  return `${v.toFixed(v >= 10 ? 1 : 2)} ms`;
}

export function pct(ratio: number | null, digits = 1): string {
  return ratio === null || !Number.isFinite(ratio) ? '–' : `${(ratio * 100).toFixed(digits)}%`;
}

export function num(v: number): string {
  if (!Number.isFinite(v)) return '–';
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

export function duration(msValue: number): string {
  const s = Math.floor(msValue / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours}h ${m % 60}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

export function clock(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** The CSS class of a status badge: ok, busy, warn, bad or off. */
export function tone(status: string): string {
  switch (status) {
    case 'online':
      return 'ok';
    case 'launching':
    case 'starting':
    case 'reloading':
      return 'busy';
    case 'draining':
    case 'stopping':
    case 'replacing':
      return 'warn';
    case 'errored':
    case 'held':
    case 'backoff':
      return 'bad';
    default:
      return 'off';
  }
}

export function badge(status: string): HTMLSpanElement {
  return h('span', { class: `badge ${tone(status)}` }, status);
}

/** A cell is text, or text with a class (badges, warnings). */
export type Cell = string | { text: string; cls: string; title?: string };

export interface Column<T> {
  title: string;
  cell: (row: T) => Cell;
  /** 'num' right-aligns. */
  cls?: string;
  /** Made once with the row (buttons, inputs); `cell` is then not used. */
  node?: (row: T) => Node;
}

/**
 * A table whose rows are kept by key and whose cells are only written when
 * their text changes: 16 workers redrawn every second cost next to nothing.
 */
export class KeyedTable<T> {
  readonly el: HTMLTableElement;
  private readonly body: HTMLTableSectionElement;
  private readonly rows = new Map<string, HTMLTableRowElement>();

  constructor(private readonly columns: Column<T>[], private readonly key: (row: T) => string, private readonly onClick?: (row: T) => void, testId?: string) {
    this.body = h('tbody');
    this.el = h('table', { class: 'grid', 'data-testid': testId }, h('thead', {}, h('tr', {}, ...columns.map((c) => h('th', { class: c.cls }, c.title)))), this.body);
  }

  update(data: readonly T[], empty = 'none'): void {
    const seen = new Set<string>();
    let previous: HTMLTableRowElement | null = null;
    for (const row of data) {
      const k = this.key(row);
      seen.add(k);
      let tr = this.rows.get(k);
      if (!tr) {
        tr = h('tr', { 'data-key': k }, ...this.columns.map((c) => h('td', { class: c.cls }, c.node?.(row))));
        if (this.onClick) {
          const click = this.onClick;
          tr.classList.add('link');
          tr.addEventListener('click', () => click(row));
        }
        this.rows.set(k, tr);
      }
      this.columns.forEach((c, i) => {
        if (c.node) return;
        const td = tr?.children[i] as HTMLTableCellElement;
        const value = c.cell(row);
        const text = typeof value === 'string' ? value : value.text;
        const inner = typeof value === 'string' ? null : value;
        if (inner) {
          let span = td.firstElementChild as HTMLSpanElement | null;
          if (!span) {
            td.textContent = '';
            span = td.appendChild(h('span'));
          }
          setClass(span, inner.cls);
          setText(span, text);
          if (inner.title !== undefined && span.title !== inner.title) span.title = inner.title;
        } else {
          setText(td, text);
        }
      });
      const expected: ChildNode | null = previous ? previous.nextSibling : this.body.firstChild;
      if (expected !== tr) this.body.insertBefore(tr, expected);
      previous = tr;
    }
    for (const [k, tr] of this.rows) {
      if (!seen.has(k)) {
        tr.remove();
        this.rows.delete(k);
      }
    }
    const placeholder = this.body.querySelector('tr.empty');
    if (data.length === 0 && !placeholder) this.body.append(h('tr', { class: 'empty' }, h('td', { colspan: this.columns.length }, empty)));
    if (data.length > 0 && placeholder) placeholder.remove();
  }
}
