/**
 * Newline-delimited JSON over a stream socket. A message never contains a raw
 * newline because JSON.stringify escapes them.
 */
export class LineDecoder {
  private buffered = '';

  constructor(private readonly maxLine = 16 * 1024 * 1024) {}

  /** Feed a chunk; returns the complete lines it finished. */
  push(chunk: string): string[] {
    this.buffered += chunk;
    if (this.buffered.length > this.maxLine && !this.buffered.includes('\n')) {
      this.buffered = '';
      throw new Error(`message longer than ${this.maxLine} bytes`);
    }
    const lines = this.buffered.split('\n');
    this.buffered = lines.pop() ?? '';
    return lines.filter((l) => l.length > 0);
  }
}

export function encode(message: unknown): string {
  return `${JSON.stringify(message)}\n`;
}
