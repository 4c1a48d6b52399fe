import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadTarget } from '../../src/config/load';
import { HerdError } from '../../src/errors';
import { addressHash, pickSlot } from '../../src/daemon/sockets/stickyHash';
import { StickyRouter, type AcceptingHandle, type ClientHandle, type NewConnMessage, type StickyWorker } from '../../src/daemon/sockets/stickyRouter';
import { configFiles } from '../configFiles';
import { eventually } from '../helpers';

const addresses = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.${(i * 7) & 255}`);

test('rendezvous hashing spreads addresses evenly over the slots', () => {
  const counts = [0, 0, 0, 0];
  for (const a of addresses) counts[pickSlot(addressHash(a), [0, 1, 2, 3])]!++;
  for (const c of counts) assert.ok(c > 400 && c < 600, `counts ${counts.join(', ')}`);
});

test('a slot leaving moves only its own clients; a slot joining takes only its share', () => {
  const before = addresses.map((a) => pickSlot(addressHash(a), [0, 1, 2, 3]));
  const without2 = addresses.map((a) => pickSlot(addressHash(a), [0, 1, 3]));
  addresses.forEach((_, i) => {
    if (before[i] !== 2) assert.equal(without2[i], before[i], 'a client of a remaining slot stayed');
  });
  const with4 = addresses.map((a) => pickSlot(addressHash(a), [0, 1, 2, 3, 4]));
  let moved = 0;
  addresses.forEach((_, i) => {
    if (with4[i] !== before[i]) {
      moved++;
      assert.equal(with4[i], 4, 'a client that moved went to the new slot');
    }
  });
  assert.ok(moved > 300 && moved < 500, `about a fifth moved: ${moved}`);
  // The order in which slots are listed does not matter.
  assert.deepEqual(addresses.map((a) => pickSlot(addressHash(a), [3, 1, 0, 2])), before);
});

// ---- the router, with fake handles and workers ------------------------------

interface FakeClient extends ClientHandle {
  address: string;
  closed: boolean;
}

function client(address: string): FakeClient {
  return {
    address,
    closed: false,
    close() {
      this.closed = true;
    },
    getpeername(out) {
      out.address = this.address;
      return 0;
    },
  };
}

interface FakeWorker extends StickyWorker {
  ready: boolean;
  received: { message: NewConnMessage; handle: FakeClient }[];
  gone(): void;
}

function worker(id: number, slot: number): FakeWorker {
  let onGone = () => {};
  return {
    id,
    slot,
    ready: true,
    received: [],
    accepting() {
      return this.ready;
    },
    send(message, handle) {
      this.received.push({ message, handle: handle as FakeClient });
      return true;
    },
    onGone(fn) {
      onGone = fn;
    },
    gone() {
      onGone();
    },
  };
}

function listening(router: StickyRouter, key = 'k'): (c: ClientHandle) => void {
  const handle: AcceptingHandle = { listen: () => 0, onconnection: null };
  assert.equal(router.listen(key, handle), 0);
  return (c) => handle.onconnection?.(0, c);
}

test('one address always reaches the same worker; both workers get clients', () => {
  const router = new StickyRouter({ holdMs: () => 1000, maxInFlight: 1000 });
  const connect = listening(router);
  const w = [worker(1, 0), worker(2, 1)];
  for (const x of w) router.add('k', x);
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 50; i++) connect(client(`127.0.0.${i}`));
  }
  const by = (x: FakeWorker) => new Set(x.received.map((r) => r.handle.address));
  assert.ok(by(w[0]!).size > 0 && by(w[1]!).size > 0);
  for (const a of by(w[0]!)) assert.ok(!by(w[1]!).has(a), `${a} went to one worker only`);
  assert.equal(w[0]!.received.length + w[1]!.received.length, 150);
  // Answered: the daemon closes its copy.
  for (const x of w) for (const r of x.received) router.ack(x.id, r.message.seq, true);
  assert.ok(w.every((x) => x.received.every((r) => r.handle.closed)));
  const s = router.stats();
  assert.deepEqual([s.accepted, s.handedOff, s.rerouted, s.waiting, s.dropped.total], [150, 150, 0, 0, 0]);
});

test('a reloaded slot: the newer worker of the slot gets its clients; draining and closed workers get none', () => {
  const router = new StickyRouter({ holdMs: () => 1000, maxInFlight: 1000 });
  const connect = listening(router);
  const old0 = worker(1, 0);
  const w1 = worker(2, 1);
  router.add('k', old0);
  router.add('k', w1);
  const addrs = Array.from({ length: 40 }, (_, i) => `127.0.1.${i}`);
  for (const a of addrs) connect(client(a));
  const slot0 = new Set(old0.received.map((r) => r.handle.address));
  const new0 = worker(3, 0);
  router.add('k', new0);
  for (const a of addrs) connect(client(a));
  assert.deepEqual(new Set(new0.received.map((r) => r.handle.address)), slot0);
  assert.equal(old0.received.length, slot0.size, 'the old worker got nothing more');
  // The old one drains, then the new one too: slot 0 has no worker, its clients go to slot 1 meanwhile.
  old0.ready = false;
  new0.ready = false;
  const before = w1.received.length;
  for (const a of slot0) connect(client(a));
  assert.equal(w1.received.length, before + slot0.size);
  // A worker that closed its server on the key gets none either.
  new0.ready = true;
  router.remove(new0.id, 'k');
  for (const a of slot0) connect(client(a));
  assert.equal(new0.received.length, slot0.size);
});

test('a refused connection goes to another worker; one refused by every worker is closed and counted', () => {
  const router = new StickyRouter({ holdMs: () => 1000 });
  const connect = listening(router);
  const a = worker(1, 0);
  const b = worker(2, 1);
  router.add('k', a);
  router.add('k', b);
  const c = client('192.0.2.1');
  connect(c);
  const [first, second] = a.received.length === 1 ? [a, b] : [b, a];
  router.ack(first.id, first.received[0]!.message.seq, false);
  assert.equal(second.received[0]?.handle, c, 're-routed to the other worker');
  assert.equal(c.closed, false);
  router.ack(second.id, second.received[0]!.message.seq, false);
  assert.equal(c.closed, true);
  const s = router.stats();
  assert.deepEqual([s.rerouted, s.dropped.refused, s.dropped.total], [2, 1, 1]);
});

test('connections wait while no worker is ready, then go; the wait is bounded in time and size', async () => {
  const router = new StickyRouter({ holdMs: () => 60_000, maxWaiting: 3 });
  const connect = listening(router);
  const w = worker(1, 0);
  w.ready = false;
  router.add('k', w);
  const clients = [client('a'), client('b'), client('c'), client('d')];
  for (const c of clients) connect(c);
  assert.equal(w.received.length, 0);
  assert.deepEqual([router.stats().waiting, router.stats().dropped.queueFull], [3, 1]);
  assert.equal(clients[3]!.closed, true, 'the fourth found the queue full');
  w.ready = true;
  router.retry();
  assert.deepEqual(w.received.map((r) => r.handle), clients.slice(0, 3));
  assert.equal(router.stats().waiting, 0);

  const short = new StickyRouter({ holdMs: () => 30 });
  const connectShort = listening(short);
  const late = client('e');
  connectShort(late);
  await eventually(() => (late.closed ? true : undefined), 5000, 'the waiting connection to be closed');
  assert.deepEqual([short.stats().waiting, short.stats().dropped.timedOut], [0, 1]);
});

test('a worker that exits with connections unanswered: they go to another worker', () => {
  const router = new StickyRouter({ holdMs: () => 1000 });
  const connect = listening(router);
  const a = worker(1, 0);
  const b = worker(2, 1);
  router.add('k', a);
  router.add('k', b);
  for (let i = 0; i < 20; i++) connect(client(`198.51.100.${i}`));
  const lost = a.received.map((r) => r.handle);
  assert.ok(lost.length > 0);
  a.gone();
  assert.deepEqual(b.received.slice(-lost.length).map((r) => r.handle), lost);
  assert.equal(router.stats().rerouted, lost.length);
});

test('a worker that does not answer gets a bounded number of connections; the rest wait for it', () => {
  const router = new StickyRouter({ holdMs: () => 60_000, maxInFlight: 2 });
  const connect = listening(router);
  const w = worker(1, 0);
  router.add('k', w);
  for (let i = 0; i < 5; i++) connect(client('203.0.113.9'));
  assert.equal(w.received.length, 2);
  assert.equal(router.stats().waiting, 3);
  router.ack(w.id, w.received[0]!.message.seq, true);
  assert.equal(w.received.length, 3);
  router.close();
  const s = router.stats();
  assert.deepEqual([s.waiting, s.dropped.stopped], [0, 2]);
});

// ---- config ---------------------------------------------------------------

const files = configFiles('sticky');

test('config: sticky defaults to false, reads true, and needs cluster mode', async () => {
  const plain = await loadTarget(await files.write({ apps: [{ script: 'server.js', instances: 2 }] }), files.options());
  assert.equal(plain.specs[0]?.sticky, false);
  const on = await loadTarget(await files.write({ apps: [{ script: 'server.js', instances: 2, sticky: true }] }), files.options());
  assert.equal(on.specs[0]?.sticky, true);
  assert.deepEqual(on.warnings, []);
  await assert.rejects(loadTarget(await files.write({ apps: [{ script: 'server.js', sticky: 'yes' }] }), files.options()),
    (err: HerdError) => err.code === 'HERD_ERR_CONFIG_INVALID' && err.details.some((d) => /apps\[0\]\.sticky: must be true or false/.test(d)));
  await assert.rejects(loadTarget(await files.write({ apps: [{ script: 'server.js', execMode: 'fork', sticky: true }] }), files.options()),
    (err: HerdError) => err.code === 'HERD_ERR_CONFIG_INVALID' && err.details.some((d) => /apps\[0\]\.sticky: needs execMode 'cluster'/.test(d)));
});
