import type { FlameNode } from '../src/profile/cpuProfile';

/**
 * A flame graph of a CPU profile's call tree, drawn with positioned
 * elements: the root on top, each row the callees of the row above, every
 * frame as wide as its total time. Hover shows a frame's times, click zooms
 * into it (its ancestors stay, full width, to click back out), the search
 * box marks matching frames. One renderer for the dashboard and for the
 * standalone page `herd profile` writes (ui/flamePage.ts).
 */

const ROW_PX = 18;
/** Frames narrower than this share of the zoomed frame are not drawn (there would be thousands). */
const MIN_SHARE = 0.001;
const MAX_DEPTH = 256;

interface Placed {
  node: FlameNode;
  parent: Placed | null;
  depth: number;
}

export interface FlameGraph {
  readonly el: HTMLElement;
  zoom(node: FlameNode): void;
  /** The frames drawn now, for tests: name and width share (0..1). */
  frames(): { name: string; share: number; depth: number }[];
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text) e.textContent = text;
  return e;
}

/** Colour by kind: V8's own frames grey, Node's internals blue, the app's (and its packages') warm, varied by name. */
function colour(node: FlameNode): string {
  if (node.name.startsWith('(') && node.location === '') return 'hsl(0, 0%, 78%)';
  let hash = 0;
  for (let i = 0; i < node.name.length; i++) hash = (hash * 31 + node.name.charCodeAt(i)) | 0;
  const vary = Math.abs(hash) % 30;
  if (node.location.startsWith('node:')) return `hsl(${200 + vary}, 55%, ${70 + (vary % 10)}%)`;
  if (node.location.includes('node_modules')) return `hsl(${45 + vary}, 75%, ${62 + (vary % 10)}%)`;
  return `hsl(${vary}, 80%, ${62 + (vary % 10)}%)`;
}

function ms(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(2)} s` : `${value.toFixed(1)} ms`;
}

export function flameGraph(root: FlameNode): FlameGraph {
  const wrap = el('div', 'flame');
  const bar = el('div', 'flame-bar');
  const search = el('input', 'flame-search');
  search.type = 'search';
  search.placeholder = 'search functions';
  search.setAttribute('aria-label', 'search functions');
  const reset = el('button', 'flame-reset', 'reset zoom');
  reset.type = 'button';
  const info = el('div', 'flame-info');
  info.dataset.testid = 'flame-info';
  bar.append(search, reset);
  const canvas = el('div', 'flame-frames');
  canvas.dataset.testid = 'flame-frames';
  wrap.append(bar, info, canvas);

  let focus: Placed = { node: root, parent: null, depth: 0 };
  const describe = (n: FlameNode) => `${n.name}${n.location ? ` ${n.location}` : ''}: total ${ms(n.total)} (${root.total > 0 ? ((n.total / root.total) * 100).toFixed(1) : '0'}%), self ${ms(n.self)}`;
  const idle = `${ms(root.total)} profiled; hover a frame for its times, click to zoom`;
  info.textContent = idle;

  const draw = () => {
    canvas.replaceChildren();
    const query = search.value.trim().toLowerCase();
    // The zoomed frame's ancestors, full width above it.
    const chain: Placed[] = [];
    for (let p: Placed | null = focus; p !== null; p = p.parent) chain.unshift(p);
    let maxDepth = 0;
    const add = (p: Placed, left: number, width: number, dim: boolean) => {
      const f = el('div', `flame-frame${dim ? ' dim' : ''}`);
      f.style.left = `${left * 100}%`;
      f.style.width = `${width * 100}%`;
      f.style.top = `${p.depth * ROW_PX}px`;
      f.style.background = colour(p.node);
      f.dataset.name = p.node.name;
      f.dataset.share = String(width);
      f.dataset.depth = String(p.depth);
      if (query && `${p.node.name} ${p.node.location}`.toLowerCase().includes(query)) f.classList.add('match');
      f.textContent = p.node.name;
      f.title = describe(p.node);
      f.addEventListener('mouseenter', () => (info.textContent = describe(p.node)));
      f.addEventListener('mouseleave', () => (info.textContent = idle));
      f.addEventListener('click', () => {
        focus = p;
        draw();
      });
      canvas.append(f);
      maxDepth = Math.max(maxDepth, p.depth);
    };
    for (const p of chain.slice(0, -1)) add(p, 0, 1, true);
    const total = focus.node.total || 1;
    // Breadth of work is bounded by MIN_SHARE; depth by MAX_DEPTH. No recursion: deep stacks are common.
    const queue: { p: Placed; left: number }[] = [{ p: focus, left: 0 }];
    while (queue.length > 0) {
      const { p, left } = queue.shift() as { p: Placed; left: number };
      const width = p.node.total / total;
      add(p, left, width, false);
      if (p.depth >= MAX_DEPTH) continue;
      let x = left;
      for (const child of p.node.children) {
        const share = child.total / total;
        if (share >= MIN_SHARE) queue.push({ p: { node: child, parent: p, depth: p.depth + 1 }, left: x });
        x += share;
      }
    }
    canvas.style.height = `${(maxDepth + 1) * ROW_PX}px`;
  };
  search.addEventListener('input', draw);
  reset.addEventListener('click', () => {
    focus = { node: root, parent: null, depth: 0 };
    draw();
  });
  draw();
  return {
    el: wrap,
    zoom(node: FlameNode) {
      // Found breadth-first under the root, with its ancestors for the chain above it.
      const queue: Placed[] = [{ node: root, parent: null, depth: 0 }];
      while (queue.length > 0) {
        const p = queue.shift() as Placed;
        if (p.node === node) {
          focus = p;
          draw();
          return;
        }
        for (const c of p.node.children) queue.push({ node: c, parent: p, depth: p.depth + 1 });
      }
    },
    frames() {
      return [...canvas.querySelectorAll<HTMLElement>('.flame-frame:not(.dim)')].map((f) => ({
        name: f.dataset.name ?? '', share: Number(f.dataset.share), depth: Number(f.dataset.depth),
      }));
    },
  };
}
