/**
 * Rendezvous (highest-random-weight) hashing of client addresses onto slot
 * ids. Every (address, slot) pair gets a pseudo-random weight and the client
 * goes to the slot with the highest one. When a slot leaves, only its own
 * clients move (each to its second choice); when one joins, it takes only
 * the clients for which it now weighs most, about 1/N of everyone. A client
 * maps to a slot id, not to a process, so a slot's replacement worker after
 * a reload or a crash gets its clients back.
 */

/** FNV-1a over the address's UTF-16 code units: cheap, and fine as input to the mixer below. */
export function addressHash(address: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < address.length; i++) {
    h ^= address.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3's finaliser: every input bit affects every output bit, so weights of neighbouring slots are unrelated. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function slotWeight(hash: number, slot: number): number {
  return mix(hash ^ mix(Math.imul(slot + 1, 0x9e3779b1)));
}

/** The slot with the highest weight for this address hash; ties (rare) go to the lower slot id. -1 when `slots` is empty. */
export function pickSlot(hash: number, slots: Iterable<number>): number {
  let best = -1;
  let bestWeight = -1;
  for (const slot of slots) {
    const w = slotWeight(hash, slot);
    if (w > bestWeight || (w === bestWeight && slot < best)) {
      best = slot;
      bestWeight = w;
    }
  }
  return best;
}
