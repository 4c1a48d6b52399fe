/**
 * Splits a byte stream into lines without ever merging two writers: each
 * worker stream has its own buffer. A partial line waits for its newline, or
 * for flush() when the stream ends. A line longer than `maxLine` characters
 * keeps its first `maxLine` and ends with a visible marker; the rest is
 * dropped, so one runaway line can neither grow the daemon's memory nor turn
 * into many lines that look like real output.
 */
export class LineSplitter {
  private partial = '';
  /** The current line was already emitted cut: drop up to its newline. */
  private cutting = false;

  constructor(private readonly onLine: (line: string) => void, private readonly maxLine = 16 * 1024) {}

  push(chunk: string): void {
    let start = 0;
    let nl = chunk.indexOf('\n');
    while (nl !== -1) {
      if (this.cutting) this.cutting = false;
      else this.emit(this.partial + chunk.slice(start, nl));
      this.partial = '';
      start = nl + 1;
      nl = chunk.indexOf('\n', start);
    }
    if (this.cutting || start === chunk.length) return;
    this.partial += chunk.slice(start);
    if (this.partial.length > this.maxLine) {
      // The rest of this line is not known yet: say it was cut, not by how much.
      this.onLine(`${this.partial.slice(0, this.maxLine)}${CUT_MARKER}]`);
      this.partial = '';
      this.cutting = true;
    }
  }

  flush(): void {
    this.cutting = false;
    if (this.partial.length > 0) {
      const rest = this.partial;
      this.partial = '';
      this.emit(rest);
    }
  }

  private emit(line: string): void {
    if (line.length <= this.maxLine) this.onLine(line);
    else this.onLine(`${line.slice(0, this.maxLine)}${CUT_MARKER} ${line.length - this.maxLine} chars]`);
  }
}

/** Appended to a line cut at the length limit. */
export const CUT_MARKER = ' …[herd: cut';
