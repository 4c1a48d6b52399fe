import type { SnapshotSummary } from './snapshotSummary';

/** One constructor's growth between two snapshots of the same worker. */
export interface ConstructorGrowth {
  name: string;
  /** Objects in the second snapshot, and how many more than in the first. */
  count: number;
  countDelta: number;
  /** Their self sizes summed (bytes), and the growth. */
  selfSize: number;
  sizeDelta: number;
}

export interface HeapDiff {
  /** How far apart the snapshots were taken, ms. */
  intervalMs: number;
  before: { nodes: number; size: number };
  after: { nodes: number; size: number };
  /** Constructors that grew, most bytes first (then most objects). */
  grew: ConstructorGrowth[];
}

/**
 * The constructors whose objects grew between `before` and `after`: what
 * a leak looks like (a class whose instances only accumulate). Ordered by
 * the bytes they added, so one large kind of object outranks many tiny
 * ones; the count delta is beside it, since a leak of small records shows
 * as thousands more of them.
 */
export function diffSummaries(before: SnapshotSummary, after: SnapshotSummary, intervalMs: number, top = 15): HeapDiff {
  const grew: ConstructorGrowth[] = [];
  for (const [name, now] of after.constructors) {
    const then = before.constructors.get(name);
    const countDelta = now.count - (then?.count ?? 0);
    const sizeDelta = now.selfSize - (then?.selfSize ?? 0);
    if (countDelta <= 0 && sizeDelta <= 0) continue;
    grew.push({ name, count: now.count, countDelta, selfSize: now.selfSize, sizeDelta });
  }
  grew.sort((a, b) => b.sizeDelta - a.sizeDelta || b.countDelta - a.countDelta || a.name.localeCompare(b.name));
  return {
    intervalMs,
    before: { nodes: before.nodeCount, size: before.totalSize },
    after: { nodes: after.nodeCount, size: after.totalSize },
    grew: grew.slice(0, top),
  };
}

function bytes(n: number): string {
  const a = Math.abs(n);
  const sign = n < 0 ? '-' : '';
  if (a >= 1024 * 1024) return `${sign}${(a / 1024 / 1024).toFixed(1)} MB`;
  if (a >= 1024) return `${sign}${(a / 1024).toFixed(1)} KB`;
  return `${sign}${a} B`;
}

const signed = (n: number, f: (n: number) => string) => (n > 0 ? `+${f(n)}` : f(n));

/** The table `herd heap --diff` prints. */
export function diffText(diff: HeapDiff): string {
  const lines = [
    `heap ${bytes(diff.before.size)} -> ${bytes(diff.after.size)} (${signed(diff.after.size - diff.before.size, bytes)}) in ${(diff.intervalMs / 1000).toFixed(1)} s; ` +
      `objects that grew, by self size added:`,
  ];
  if (diff.grew.length === 0) return `${lines[0]}\n  none`;
  const rows = diff.grew.map((g) => [g.name.length > 48 ? `${g.name.slice(0, 47)}…` : g.name || '(anonymous)',
    signed(g.countDelta, String), String(g.count), signed(g.sizeDelta, bytes), bytes(g.selfSize)]);
  const head = ['constructor', 'count +/-', 'count', 'self size +/-', 'self size'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]) => `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ')}`;
  lines.push(fmt(head), ...rows.map(fmt));
  return lines.join('\n');
}
