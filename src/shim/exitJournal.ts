import type { ExitEvent } from '../protocol/shim';

/** Exits kept at most; older ones are dropped and counted. */
export const JOURNAL_CAPACITY = 256;

/**
 * Worker exits the daemon has not acknowledged yet. An exit stays here until
 * the daemon says it acted on it (ackExits), so a daemon that was not there,
 * or died before acting, finds it in the next snapshot. Bounded: a worker
 * crashing in a loop while no daemon listens cannot grow it without limit.
 */
export class ExitJournal {
  private readonly entries: ExitEvent[] = [];
  private seq = 0;
  private dropped = 0;

  constructor(private readonly capacity = JOURNAL_CAPACITY) {}

  /** Records an exit under the next sequence number. */
  record(exit: Omit<ExitEvent, 'seq'>): ExitEvent {
    const entry: ExitEvent = { ...exit, seq: ++this.seq };
    this.entries.push(entry);
    while (this.entries.length > this.capacity) {
      this.entries.shift();
      this.dropped++;
    }
    return entry;
  }

  /** The daemon acted on every exit up to `upTo`. */
  ack(upTo: number): void {
    while (this.entries.length > 0 && (this.entries[0] as ExitEvent).seq <= upTo) this.entries.shift();
  }

  pending(): ExitEvent[] {
    return [...this.entries];
  }

  /** Exits that fell out of a full journal unacknowledged. */
  get lost(): number {
    return this.dropped;
  }
}
