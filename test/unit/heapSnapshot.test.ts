import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { SnapshotScanner } from '../../src/heap/snapshotSummary';
import { diffSummaries, diffText } from '../../src/heap/heapDiff';
import { checkMemory, parseMemAvailable } from '../../src/daemon/heap/memoryCheck';
import { ChunkForwarder } from '../../src/daemon/heap/snapshotStream';

/** A snapshot shaped as V8 writes it, with the nodes given as [type, name, self_size]. */
function handmade(nodes: [string, string, number][], extraStrings: string[] = []): string {
  const types = ['hidden', 'array', 'string', 'object', 'code', 'closure'];
  const strings = ['', ...extraStrings];
  const index = (s: string) => {
    const i = strings.indexOf(s);
    return i >= 0 ? i : strings.push(s) - 1;
  };
  const flat = nodes.flatMap(([type, name, size], id) => [types.indexOf(type), index(name), id * 2 + 1, size, 0, 0, 0]);
  return JSON.stringify({
    snapshot: {
      meta: {
        node_fields: ['type', 'name', 'id', 'self_size', 'edge_count', 'trace_node_id', 'detachedness'],
        node_types: [types, 'string', 'number', 'number', 'number', 'number', 'number'],
        edge_fields: ['type', 'name_or_index', 'to_node'],
        edge_types: [['context', 'element', 'property'], 'string_or_number', 'node'],
      },
      node_count: nodes.length,
      edge_count: 0,
    },
    nodes: flat,
    edges: [],
    trace_function_infos: [],
    locations: [],
    strings,
  });
}

const before = handmade([
  ['object', 'SessionRecord', 40], ['object', 'Object', 24], ['object', 'Object', 24], ['string', 'a "quoted" string', 32], ['closure', 'handler', 64],
], ['escaped \\ and \u00e9']);
const after = handmade([
  ['object', 'SessionRecord', 40], ['object', 'SessionRecord', 40], ['object', 'SessionRecord', 40], ['object', 'Object', 24], ['object', 'Object', 24],
  ['object', 'Buffer', 10], ['string', 'SessionRecord', 1000], ['closure', 'handler', 64],
]);

test('a heap snapshot is summed per constructor, object nodes only, in any chunking', () => {
  const whole = new SnapshotScanner();
  whole.push(after);
  const summary = whole.end();
  assert.equal(summary.nodeCount, 8);
  assert.equal(summary.totalSize, 40 * 3 + 48 + 10 + 1000 + 64);
  assert.deepEqual(summary.constructors.get('SessionRecord'), { name: 'SessionRecord', count: 3, selfSize: 120 });
  assert.deepEqual(summary.constructors.get('Object'), { name: 'Object', count: 2, selfSize: 48 });
  // A string node and a closure are not constructors.
  assert.equal(summary.constructors.has('handler'), false);
  // Pieces of one character split every token somewhere.
  const bytewise = new SnapshotScanner();
  for (const ch of after) bytewise.push(ch);
  assert.deepEqual(bytewise.end(), summary);
});

test('the diff puts the constructor that grew most first and leaves out those that did not grow', () => {
  const scan = (text: string) => {
    const s = new SnapshotScanner();
    s.push(text);
    return s.end();
  };
  const diff = diffSummaries(scan(before), scan(after), 2000);
  assert.deepEqual(diff.grew.map((g) => g.name), ['SessionRecord', 'Buffer']);
  assert.deepEqual(diff.grew[0], { name: 'SessionRecord', count: 3, countDelta: 2, selfSize: 120, sizeDelta: 80 });
  const text = diffText(diff);
  assert.match(text.split('\n')[2] ?? '', /^ {2}SessionRecord\s+\+2\s+3\s+\+80 B\s+120 B$/);
});

test('a cut-off or foreign file is refused with the reason', () => {
  const cut = new SnapshotScanner();
  cut.push(after.slice(0, after.length - 40));
  assert.throws(() => cut.end(), /cut off/);
  const foreign = new SnapshotScanner();
  foreign.push(JSON.stringify({ hello: [1, 2, 3] }));
  assert.throws(() => foreign.end(), /not a heap snapshot: no snapshot.meta/);
});

test('free memory: twice the heap in use (RSS without metrics) against MemAvailable', () => {
  const meminfo = 'MemTotal:       16315820 kB\nMemFree:          512000 kB\nMemAvailable:    1048576 kB\nBuffers:  1 kB\n';
  assert.equal(parseMemAvailable(meminfo), 1024 * 1024 * 1024);
  assert.equal(parseMemAvailable('MemTotal: 1 kB\n'), null);
  const gb = 1024 ** 3;
  assert.deepEqual(checkMemory(400 * 1024 ** 2, 2 * gb, gb), { needed: 800 * 1024 ** 2, available: gb, basis: 'heapUsed', ok: true });
  assert.equal(checkMemory(600 * 1024 ** 2, 0, gb).ok, false);
  assert.deepEqual(checkMemory(0, 300 * 1024 ** 2, gb), { needed: 600 * 1024 ** 2, available: gb, basis: 'rss', ok: true });
  // Unknown (no /proc/meminfo): not refused.
  assert.equal(checkMemory(600 * 1024 ** 2, 0, null).ok, true);
});

test('the daemon forwards pieces in order and gives up past its bound instead of holding a whole snapshot', async () => {
  const sent: string[] = [];
  let release: () => void = () => {};
  const slow = new ChunkForwarder((data) => {
    sent.push(data);
    return new Promise<void>((resolve) => (release = resolve));
  }, 10);
  slow.push('abcd');
  slow.push('efgh');
  slow.push('ijkl');
  // The first is out; 8 characters wait, under the bound of 10.
  assert.deepEqual(sent, ['abcd']);
  release();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent, ['abcd', 'efgh']);
  slow.push('mnop');
  slow.push('qrst');
  // 'ijkl' + 'mnop' + 'qrst' = 12 waiting: past the bound, the snapshot is abandoned.
  await assert.rejects(() => Promise.all([slow.flush(), Promise.resolve(release())]), /read the snapshot too slowly/);
  const fast = new ChunkForwarder(async (data) => void sent.push(data));
  fast.push('x');
  fast.push('y');
  await fast.flush();
  assert.equal(fast.sent, 2);
});

test('a forwarder that fails (past its bound) abandons a send that never ends: flush rejects at once', async () => {
  const stuck = new ChunkForwarder(() => new Promise<void>(() => {}), 10);
  stuck.push('abcd');
  const flushing = stuck.flush();
  stuck.push('efghijklmnop');
  await assert.rejects(flushing, /read the snapshot too slowly/);
});
