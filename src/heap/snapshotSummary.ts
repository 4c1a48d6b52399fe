import * as fs from 'node:fs';

/**
 * What a V8 heap snapshot (`.heapsnapshot`, the JSON Chrome DevTools loads)
 * holds per constructor, read without loading the file: snapshots run to
 * hundreds of MB and JSON.parse of one needs several times that. The file is
 * scanned once, in chunks; each node of the flat `nodes` array is added to
 * its constructor's totals as it goes by, `edges` and the other arrays are
 * skipped, and of `strings` only the names the totals refer to are kept.
 * Memory is one chunk plus one entry per distinct name.
 *
 * Format (V8's HeapSnapshotJSONSerializer): `snapshot.meta.node_fields` names
 * the numbers of one node (type, name, id, self_size, edge_count, ...),
 * `node_types[0]` the values of `type`, and `name` indexes `strings`. For an
 * `object` node the name is its constructor's ("SessionRecord", "Object").
 * Retained sizes need the whole graph and its dominator tree; only self
 * sizes are summed here.
 */

export interface ConstructorTotal {
  name: string;
  count: number;
  /** Sum of the nodes' self sizes, bytes. */
  selfSize: number;
}

export interface SnapshotSummary {
  nodeCount: number;
  /** Sum of every node's self size, bytes (all types): about the heap DevTools shows. */
  totalSize: number;
  /** `object` nodes by constructor name. */
  constructors: Map<string, ConstructorTotal>;
}

interface Meta {
  node_fields: string[];
  node_types: unknown[];
}

type Frame = { kind: 'object'; key: string | null; expectValue: boolean } | { kind: 'array'; key: string | null; index: number };

/**
 * A push parser: feed it the file in pieces, then `end()`. Only the nesting,
 * keys, numbers and strings are tokenised; values are never built except
 * `snapshot` (small).
 */
export class SnapshotScanner {
  private readonly stack: Frame[] = [];
  /** Text of a token split across two pieces. */
  private carry = '';
  private meta: Meta | null = null;
  /** The `snapshot` object as it is built (it is small: meta and counts). */
  private building: unknown[] = [];
  private buildDepth = -1;
  private fields = 0;
  private typeField = 0;
  private nameField = 1;
  private sizeField = 3;
  private objectType = -1;
  private readonly node: number[] = [];
  private nodeCount = 0;
  private totalSize = 0;
  /** name index -> totals, until the strings are read. */
  private readonly byName = new Map<number, { count: number; selfSize: number }>();
  private readonly names = new Map<number, string>();
  /** Strings read before the nodes (a file ordered otherwise than V8's): all kept. */
  private earlyStrings: string[] | null = null;
  private stringIndex = 0;
  private sawNodes = false;
  private sawStrings = false;

  /**
   * Inside a top-level array of numbers (nodes, edges, locations...): the
   * fast path, digits summed as they come, no token text made. The value
   * being read when a piece ended is kept here.
   */
  private numeric = false;
  private digits = -1;

  push(text: string): void {
    const s = this.carry + text;
    this.carry = '';
    const n = s.length;
    let i = 0;
    while (i < n) {
      if (this.numeric) {
        i = this.numbers(s, i);
        if (i >= n) return;
      }
      const c = s.charCodeAt(i);
      // whitespace, ',' and ':' carry nothing the frames do not know
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === 0x2c) {
        i++;
        continue;
      }
      if (c === 0x3a) {
        const top = this.stack[this.stack.length - 1];
        if (top?.kind === 'object') top.expectValue = true;
        i++;
        continue;
      }
      if (c === 0x7b || c === 0x5b) {
        this.open(c === 0x7b ? 'object' : 'array');
        i++;
        continue;
      }
      if (c === 0x7d || c === 0x5d) {
        this.close();
        i++;
        continue;
      }
      if (c === 0x22) {
        // a string: find its closing quote (one not escaped)
        let j = i + 1;
        let escaped = false;
        for (; j < n; j++) {
          const d = s.charCodeAt(j);
          if (escaped) escaped = false;
          else if (d === 0x5c) escaped = true;
          else if (d === 0x22) break;
        }
        if (j >= n) {
          this.carry = s.slice(i);
          return;
        }
        this.string(s, i, j + 1);
        i = j + 1;
        continue;
      }
      // a number or a literal (true/false/null): up to the next delimiter
      let j = i;
      for (; j < n; j++) {
        const d = s.charCodeAt(j);
        if (d === 0x2c || d === 0x5d || d === 0x7d || d === 0x20 || d === 0x0a || d === 0x0d || d === 0x09 || d === 0x3a) break;
      }
      if (j >= n) {
        this.carry = s.slice(i);
        return;
      }
      this.scalar(s.slice(i, j));
      i = j;
    }
  }

  /**
   * Read non-negative integers from `i` while the array lasts; returns where
   * it stopped: the end of `s`, or a character the general path takes (the
   * closing bracket, or anything that is not a plain integer).
   */
  private numbers(s: string, i: number): number {
    const n = s.length;
    const keep = (this.stack[this.stack.length - 1] as Frame).key === 'nodes';
    let value = this.digits;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x30 && c <= 0x39) {
        value = value < 0 ? c - 0x30 : value * 10 + (c - 0x30);
        continue;
      }
      if (c === 0x2c || c === 0x5d || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        if (value >= 0) {
          if (keep) {
            this.node.push(value);
            if (this.node.length === this.fields) this.addNode();
          }
          value = -1;
        }
        if (c === 0x5d) break;
        continue;
      }
      // '-', '.', 'e', a string: not V8's plain integers; the general path reads the rest.
      if (value >= 0 && keep) throw new Error(`the heap snapshot's ${(this.stack[this.stack.length - 1] as Frame).key} array holds a number that is not a whole one`);
      this.numeric = false;
      break;
    }
    this.digits = value;
    return i;
  }

  end(): SnapshotSummary {
    if (this.carry.trim() !== '' || this.stack.length > 0) throw new Error('the heap snapshot is cut off (the JSON does not end)');
    if (!this.meta) throw new Error('not a heap snapshot: no snapshot.meta');
    if (!this.sawNodes) throw new Error('not a heap snapshot: no nodes array');
    if (!this.sawStrings) throw new Error('not a heap snapshot: no strings array');
    if (this.node.length !== 0) throw new Error(`the heap snapshot's nodes array is not a whole number of nodes of ${this.fields} fields`);
    const constructors = new Map<string, ConstructorTotal>();
    for (const [index, t] of this.byName) {
      const name = this.names.get(index) ?? this.earlyStrings?.[index];
      if (name === undefined) throw new Error(`the heap snapshot names string ${index}, which its strings array does not have`);
      const entry = constructors.get(name);
      if (entry) {
        entry.count += t.count;
        entry.selfSize += t.selfSize;
      } else {
        constructors.set(name, { name, count: t.count, selfSize: t.selfSize });
      }
    }
    return { nodeCount: this.nodeCount, totalSize: this.totalSize, constructors };
  }

  private open(kind: 'object' | 'array'): void {
    const parent = this.stack[this.stack.length - 1];
    // The key this value belongs to (an array's elements share the array's).
    const key = parent ? parent.key : null;
    if (this.buildDepth >= 0 || (this.stack.length === 1 && key === 'snapshot')) {
      if (this.buildDepth < 0) this.buildDepth = this.stack.length;
      this.building.push(kind === 'object' ? { __keys: [] as string[], value: {} } : []);
    }
    if (this.stack.length === 1 && key === 'nodes') {
      if (!this.meta) throw new Error('the heap snapshot has nodes before snapshot.meta');
      this.sawNodes = true;
    }
    if (this.stack.length === 1 && key === 'strings') {
      this.sawStrings = true;
      if (!this.sawNodes) this.earlyStrings = [];
    }
    this.stack.push(kind === 'object' ? { kind, key, expectValue: false } : { kind, key, index: 0 });
    this.numeric = kind === 'array' && this.stack.length === 2 && this.buildDepth < 0 && key !== 'strings';
  }

  private close(): void {
    const frame = this.stack.pop();
    if (!frame) throw new Error('not a heap snapshot: unbalanced brackets');
    this.numeric = false;
    if (this.buildDepth >= 0) {
      const done = this.building.pop() as unknown;
      const value = isBuilder(done) ? done.value : done;
      if (this.stack.length === this.buildDepth) {
        this.buildDepth = -1;
        this.takeMeta(value);
      } else {
        this.addBuilt(value);
      }
    }
    this.afterValue();
  }

  private afterValue(): void {
    const top = this.stack[this.stack.length - 1];
    if (!top) return;
    if (top.kind === 'object') {
      top.expectValue = false;
      top.key = null;
    } else {
      top.index++;
    }
  }

  private string(s: string, from: number, to: number): void {
    const top = this.stack[this.stack.length - 1];
    if (top?.kind === 'object' && !top.expectValue) {
      // A key: JSON.parse only when it has escapes.
      const raw = s.slice(from + 1, to - 1);
      top.key = raw.includes('\\') ? (JSON.parse(s.slice(from, to)) as string) : raw;
      if (this.buildDepth >= 0) (this.building[this.building.length - 1] as Builder).__keys.push(top.key);
      return;
    }
    if (this.buildDepth >= 0) {
      this.addBuilt(JSON.parse(s.slice(from, to)));
    } else if (top?.kind === 'array' && this.stack.length === 2 && this.stack[0]?.kind === 'object' && top.key === 'strings') {
      const index = this.stringIndex++;
      if (this.earlyStrings) this.earlyStrings.push(JSON.parse(s.slice(from, to)) as string);
      else if (this.byName.has(index)) this.names.set(index, JSON.parse(s.slice(from, to)) as string);
    }
    this.afterValue();
  }

  private scalar(text: string): void {
    const top = this.stack[this.stack.length - 1];
    if (this.buildDepth >= 0) {
      this.addBuilt(JSON.parse(text));
    } else if (top?.kind === 'array' && top.key === 'nodes' && this.stack.length === 2) {
      const value = Number(text);
      if (!Number.isFinite(value)) throw new Error(`the heap snapshot's nodes array holds ${JSON.stringify(text)}, not a number`);
      this.node.push(value);
      if (this.node.length === this.fields) this.addNode();
    }
    this.afterValue();
  }

  private addNode(): void {
    const size = this.node[this.sizeField] as number;
    this.nodeCount++;
    this.totalSize += size;
    if (this.node[this.typeField] === this.objectType) {
      const name = this.node[this.nameField] as number;
      const t = this.byName.get(name);
      if (t) {
        t.count++;
        t.selfSize += size;
      } else {
        this.byName.set(name, { count: 1, selfSize: size });
      }
    }
    this.node.length = 0;
  }

  private addBuilt(value: unknown): void {
    const into = this.building[this.building.length - 1];
    if (Array.isArray(into)) into.push(value);
    else if (isBuilder(into)) into.value[into.__keys[into.__keys.length - 1] as string] = value;
  }

  private takeMeta(snapshot: unknown): void {
    const meta = (snapshot as { meta?: Meta } | null)?.meta;
    if (!meta || !Array.isArray(meta.node_fields) || !Array.isArray(meta.node_types)) throw new Error('not a heap snapshot: snapshot.meta has no node_fields or node_types');
    const at = (field: string) => {
      const index = meta.node_fields.indexOf(field);
      if (index < 0) throw new Error(`not a heap snapshot: snapshot.meta.node_fields has no "${field}"`);
      return index;
    };
    this.fields = meta.node_fields.length;
    this.typeField = at('type');
    this.nameField = at('name');
    this.sizeField = at('self_size');
    const types = meta.node_types[this.typeField];
    this.objectType = Array.isArray(types) ? types.indexOf('object') : -1;
    if (this.objectType < 0) throw new Error('not a heap snapshot: snapshot.meta.node_types has no "object" type');
    this.meta = meta;
  }
}

interface Builder {
  __keys: string[];
  value: Record<string, unknown>;
}

function isBuilder(value: unknown): value is Builder {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Array.isArray((value as Builder).__keys);
}

/** Read a `.heapsnapshot` file into its summary, one chunk at a time. */
export async function summarizeSnapshot(file: string): Promise<SnapshotSummary> {
  const scanner = new SnapshotScanner();
  const stream = fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1024 * 1024 });
  for await (const chunk of stream) scanner.push(chunk as string);
  return scanner.end();
}
