/**
 * Newline-delimited JSON over a stream socket. A message never contains a raw
 * newline because JSON.stringify escapes them.
 */
export class LineTooLongError extends Error {
  constructor(readonly limit: number) {
    super(`message longer than ${limit} bytes`);
  }
}

export class LineDecoder {
  private parts: string[] = [];
  private partLength = 0;

  constructor(private readonly maxLine = 16 * 1024 * 1024) {}

  /** Characters of an unfinished line held now. */
  get pending(): number {
    return this.partLength;
  }

  /**
   * Feed a chunk; returns the complete lines it finished. Only the new chunk
   * is scanned for a newline (a line arriving in many chunks costs its length
   * once, not once per chunk), and a line past the limit throws at once.
   */
  push(chunk: string): string[] {
    const lines: string[] = [];
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      const piece = chunk.slice(start, nl);
      this.check(piece.length);
      const line = this.parts.length > 0 ? this.parts.join('') + piece : piece;
      this.parts = [];
      this.partLength = 0;
      if (line.length > 0) lines.push(line);
      start = nl + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.slice(start);
      this.check(rest.length);
      this.parts.push(rest);
      this.partLength += rest.length;
    }
    return lines;
  }

  private check(adding: number): void {
    if (this.partLength + adding > this.maxLine) {
      this.parts = [];
      this.partLength = 0;
      throw new LineTooLongError(this.maxLine);
    }
  }
}

export function encode(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}
