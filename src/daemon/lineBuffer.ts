/**
 * Splits a byte stream into lines without ever merging two writers: each
 * worker stream has its own buffer. A partial line waits for its newline, or
 * for flush() when the stream ends.
 */
export class LineSplitter {
  private partial = '';

  constructor(private readonly onLine: (line: string) => void, private readonly maxLine = 64 * 1024) {}

  push(chunk: string): void {
    let text = this.partial + chunk;
    let nl = text.indexOf('\n');
    while (nl !== -1) {
      this.onLine(text.slice(0, nl));
      text = text.slice(nl + 1);
      nl = text.indexOf('\n');
    }
    // A runaway line without newline is cut rather than held without bound.
    while (text.length > this.maxLine) {
      this.onLine(`${text.slice(0, this.maxLine)} [cut]`);
      text = text.slice(this.maxLine);
    }
    this.partial = text;
  }

  flush(): void {
    if (this.partial.length > 0) {
      const rest = this.partial;
      this.partial = '';
      this.onLine(rest);
    }
  }
}

/** The last `size` items, oldest first. */
export class Ring<T> {
  private items: T[] = [];

  constructor(private readonly size: number) {}

  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.size) this.items.splice(0, this.items.length - this.size);
  }

  toArray(): T[] {
    return [...this.items];
  }
}
