/**
 * Keeps a file in step with changing content without a write per change:
 * at most one write in flight, the latest content pending behind it, and a
 * short debounce so that a burst (`herd start` of ten apps, a scale) is one
 * or two writes. Content is rendered when the write starts, so it is always
 * the latest; a write that would not change the file is skipped.
 *
 * A failed write (ENOSPC, EROFS) is reported once, not on every change, and
 * tried again on the next change; nothing that asked for the write waits
 * for it or fails because of it.
 */
export interface CoalescingWriterOptions {
  /** Puts `content` on disk (atomically). */
  write: (content: string) => Promise<void>;
  /** ms between the first change of a burst and the write. */
  debounceMs: number;
  /** The first failure after a success (or since the start). */
  onError: (err: Error) => void;
  /** The first success after a failure. */
  onRecover: () => void;
}

export class CoalescingWriter {
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  /** A change came while a write was in flight: write again after it. */
  private dirty = false;
  private closed = false;
  private failing = false;
  /** What the file holds, as far as this writer knows. */
  private written: string | null;
  /** Writes started, for tests and the daemon log. */
  writes = 0;

  constructor(private readonly render: () => string, private readonly options: CoalescingWriterOptions, onDisk: string | null = null) {
    this.written = onDisk;
  }

  /** Something the content depends on changed. */
  changed(): void {
    if (this.closed) return;
    if (this.inFlight !== null) {
      this.dirty = true;
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), this.options.debounceMs);
  }

  /** Resolves once nothing is pending or in flight (tests, and before the last write). */
  async idle(): Promise<void> {
    while (this.timer !== null || this.inFlight !== null) {
      if (this.inFlight === null && this.timer !== null) {
        clearTimeout(this.timer);
        this.flush();
      }
      await this.inFlight;
    }
  }

  /**
   * The last write: the content is rendered now, before anything else
   * changes (the daemon renders before it stops its apps, so the file
   * keeps them as running), then written once the write in flight is done.
   * Later changes are ignored. `force` writes even when the content is
   * what the file holds (a header the render leaves out changed).
   */
  async close(force = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const content = this.render();
    await this.inFlight;
    if (force || content !== this.written) await this.run(content);
  }

  private flush(): void {
    this.timer = null;
    this.dirty = false;
    const content = this.render();
    if (content === this.written) return;
    this.inFlight = this.run(content).finally(() => {
      this.inFlight = null;
      if (this.dirty && !this.closed) {
        this.dirty = false;
        this.changed();
      }
    });
  }

  private async run(content: string): Promise<void> {
    this.writes++;
    try {
      await this.options.write(content);
      this.written = content;
      if (this.failing) {
        this.failing = false;
        this.options.onRecover();
      }
    } catch (err) {
      if (!this.failing) {
        this.failing = true;
        this.options.onError(err as Error);
      }
    }
  }
}
