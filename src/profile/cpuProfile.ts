/**
 * A V8 CPU profile (the `profile` of the inspector's Profiler.stop, the
 * format of a .cpuprofile file) and what herd reads from it: the functions
 * with the most self time, and the call tree a flame graph draws. Pure
 * code, no Node APIs: the dashboard and the standalone flame-graph page run
 * it in the browser too.
 */

export interface ProfileCallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  /** 0-based, like the inspector's. */
  lineNumber: number;
  columnNumber: number;
}

export interface ProfileNode {
  id: number;
  callFrame: ProfileCallFrame;
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  /** Microseconds (the inspector's clock). */
  startTime: number;
  endTime: number;
  /** The node sampled at each tick, and the µs since the tick before. */
  samples?: number[];
  timeDeltas?: number[];
}

/** One function of the top list; times in ms, shares of the whole profile in 0..100. */
export interface TopFunction {
  functionName: string;
  /** `url:line` (1-based), or the V8 pseudo-frame's name alone, e.g. `(garbage collector)`. */
  location: string;
  selfMs: number;
  selfPct: number;
  totalPct: number;
}

/** A frame of the flame graph: a function at one place in the call tree; times in ms. */
export interface FlameNode {
  name: string;
  /** `url:line` (1-based), empty for V8's pseudo-frames. */
  location: string;
  self: number;
  total: number;
  children: FlameNode[];
}

/** What is wrong with `value` as a CPU profile, or null. Checked before anything reads it. */
export function profileProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const p = value as Partial<CpuProfile>;
  if (!Array.isArray(p.nodes) || p.nodes.length === 0) return 'no nodes';
  if (typeof p.startTime !== 'number' || typeof p.endTime !== 'number') return 'no startTime/endTime';
  for (const n of p.nodes) {
    if (typeof n?.id !== 'number' || typeof n.callFrame !== 'object' || n.callFrame === null) return 'a node without id or callFrame';
  }
  return null;
}

/** The function a frame belongs to, whatever node of the tree it is on. */
function functionKey(f: ProfileCallFrame): string {
  return `${f.functionName}\u0000${f.url}\u0000${f.lineNumber}\u0000${f.columnNumber}`;
}

export function frameName(f: ProfileCallFrame): string {
  return f.functionName || '(anonymous)';
}

export function frameLocation(f: ProfileCallFrame): string {
  if (!f.url) return '';
  return `${f.url.replace(/^file:\/\//, '')}:${f.lineNumber + 1}`;
}

/**
 * Self time of every node, ms. With samples and time deltas each sample
 * counts the time until the next one (the last one the mean interval), as
 * DevTools does; without them, the nodes' hit counts share the duration.
 */
function selfTimes(profile: CpuProfile): Map<number, number> {
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const durationUs = Math.max(0, profile.endTime - profile.startTime);
  if (samples.length > 0 && deltas.length === samples.length) {
    const meanUs = durationUs / samples.length;
    for (let i = 0; i < samples.length; i++) {
      const next = deltas[i + 1];
      const us = next !== undefined && next >= 0 ? next : meanUs;
      const id = samples[i] as number;
      self.set(id, (self.get(id) ?? 0) + us / 1000);
    }
    return self;
  }
  const hits = profile.nodes.reduce((n, node) => n + (node.hitCount ?? 0), 0);
  for (const node of profile.nodes) {
    self.set(node.id, hits === 0 ? 0 : ((node.hitCount ?? 0) / hits) * (durationUs / 1000));
  }
  return self;
}

interface Indexed {
  byId: Map<number, ProfileNode>;
  root: ProfileNode;
  self: Map<number, number>;
}

function index(profile: CpuProfile): Indexed {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const isChild = new Set<number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) isChild.add(c);
  const root = profile.nodes.find((n) => !isChild.has(n.id)) ?? (profile.nodes[0] as ProfileNode);
  return { byId, root, self: selfTimes(profile) };
}

/**
 * Depth-first over the tree without recursion (a deep stack must not
 * overflow ours): `enter` on the way down, `leave` on the way up.
 */
function walk(ix: Indexed, enter: (node: ProfileNode) => void, leave: (node: ProfileNode) => void): void {
  const stack: { node: ProfileNode; next: number }[] = [{ node: ix.root, next: 0 }];
  const seen = new Set<number>([ix.root.id]);
  enter(ix.root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { node: ProfileNode; next: number };
    const children = top.node.children ?? [];
    if (top.next < children.length) {
      const child = ix.byId.get(children[top.next++] as number);
      if (!child || seen.has(child.id)) continue;
      seen.add(child.id);
      enter(child);
      stack.push({ node: child, next: 0 });
    } else {
      stack.pop();
      leave(top.node);
    }
  }
}

/** Total time of every node: its self time and its descendants'. */
function totalTimes(ix: Indexed): Map<number, number> {
  const total = new Map<number, number>();
  walk(ix, () => {}, (node) => {
    let t = ix.self.get(node.id) ?? 0;
    for (const c of node.children ?? []) t += total.get(c) ?? 0;
    total.set(node.id, t);
  });
  return total;
}

/** Length of the profile in ms: the sum of every sample's time. */
export function profileMs(profile: CpuProfile): number {
  let ms = 0;
  for (const t of selfTimes(profile).values()) ms += t;
  return ms;
}

/**
 * The functions with the most self time, most first. Every node of one
 * function counts towards it; its total time counts a sample once even when
 * the function is on the stack twice (recursion). The root is left out
 * (it has no self time of its own); V8's (program), (idle) and
 * (garbage collector) stay in: they say where the rest of the time went.
 */
export function topFunctions(profile: CpuProfile, limit = 10): TopFunction[] {
  const ix = index(profile);
  const total = totalTimes(ix);
  const all = profileMs(profile);
  const byFn = new Map<string, { frame: ProfileCallFrame; self: number; total: number }>();
  const onStack = new Map<string, number>();
  walk(ix, (node) => {
    if (node === ix.root) return;
    const key = functionKey(node.callFrame);
    const entry = byFn.get(key) ?? { frame: node.callFrame, self: 0, total: 0 };
    byFn.set(key, entry);
    entry.self += ix.self.get(node.id) ?? 0;
    const depth = onStack.get(key) ?? 0;
    if (depth === 0) entry.total += total.get(node.id) ?? 0;
    onStack.set(key, depth + 1);
  }, (node) => {
    if (node === ix.root) return;
    const key = functionKey(node.callFrame);
    onStack.set(key, (onStack.get(key) ?? 1) - 1);
  });
  const pct = (ms: number) => (all > 0 ? (ms / all) * 100 : 0);
  return [...byFn.values()]
    .filter((e) => e.self > 0)
    .sort((a, b) => b.self - a.self)
    .slice(0, limit)
    .map((e) => ({
      functionName: frameName(e.frame),
      location: frameLocation(e.frame) || frameName(e.frame),
      selfMs: e.self,
      selfPct: pct(e.self),
      totalPct: pct(e.total),
    }));
}

/**
 * The call tree as a flame graph draws it: children of one frame that are
 * the same function merged, widest first, frames without time left out.
 */
export function flameTree(profile: CpuProfile): FlameNode {
  const ix = index(profile);
  const build = new Map<number, FlameNode>();
  walk(ix, () => {}, (node) => {
    const merged = new Map<string, FlameNode>();
    for (const id of node.children ?? []) {
      const child = build.get(id);
      build.delete(id);
      if (!child || child.total <= 0) continue;
      const key = `${child.name}\u0000${child.location}`;
      const same = merged.get(key);
      if (same) mergeInto(same, child);
      else merged.set(key, child);
    }
    const children = [...merged.values()].sort((a, b) => b.total - a.total);
    const self = ix.self.get(node.id) ?? 0;
    build.set(node.id, {
      name: node === ix.root ? '(root)' : frameName(node.callFrame),
      location: frameLocation(node.callFrame),
      self,
      total: self + children.reduce((t, c) => t + c.total, 0),
      children,
    });
  });
  return build.get(ix.root.id) as FlameNode;
}

/** Add `from`'s times and calls into `into`, frame by frame; with a work list, not recursion (stacks can be deep). */
function mergeInto(into: FlameNode, from: FlameNode): void {
  const work: [FlameNode, FlameNode][] = [[into, from]];
  for (let pair = work.pop(); pair; pair = work.pop()) {
    const [a, b] = pair;
    a.self += b.self;
    a.total += b.total;
    const byKey = new Map(a.children.map((c) => [`${c.name}\u0000${c.location}`, c]));
    for (const c of b.children) {
      const key = `${c.name}\u0000${c.location}`;
      const same = byKey.get(key);
      if (same) work.push([same, c]);
      else {
        a.children.push(c);
        byKey.set(key, c);
      }
    }
    a.children.sort((x, y) => y.total - x.total);
  }
}

/** V8's frames that are not code of the app: the root and the pseudo-frames. */
export const PSEUDO_FRAMES: readonly string[] = ['(root)', '(program)', '(idle)', '(garbage collector)'];
