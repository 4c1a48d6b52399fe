/**
 * The one on-disk line format, written by the daemon and read back by
 * `herd logs`. Each stream has its own file, so the stream is in the file
 * name, not on the line:
 *
 *   2024-05-01T10:20:30.123Z [1] listening on 3000
 *
 * ISO time (UTC, fixed width, sorts as text), worker id in brackets, one
 * space, the message exactly as the worker wrote it (a line never contains a
 * newline: it was split on them). Pleasant with `tail -f`, and unambiguous to
 * parse because the first two fields never contain spaces.
 */
export type Stream = 'out' | 'err' | 'access';

export const STREAMS: readonly Stream[] = ['out', 'err', 'access'];

export interface LogLine {
  /** Epoch ms when the daemon received the line. */
  time: number;
  app: string;
  worker: number;
  stream: Stream;
  msg: string;
}

// A flood gives many lines per millisecond: format each millisecond once.
let lastTime = -1;
let lastIso = '';

export function formatLine(line: LogLine): string {
  if (line.time !== lastTime) {
    lastTime = line.time;
    lastIso = new Date(line.time).toISOString();
  }
  return `${lastIso} [${line.worker}] ${line.msg}\n`;
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) \[(\d+)\] ?(.*)$/;

/** Null for a line not in the format (e.g. a file written by something else). */
export function parseLine(text: string, app: string, stream: Stream): LogLine | null {
  const m = LINE.exec(text);
  if (!m) return null;
  return { time: Date.parse(m[1] as string), app, worker: Number(m[2]), stream, msg: m[3] as string };
}

/** The current file of an app's stream. */
export function currentFileName(app: string, stream: Stream): string {
  return `${app}-${stream}.log`;
}

/**
 * Rotated files keep the app's prefix and carry the rotation time, so they
 * never need renaming again and sort oldest first by name:
 * `api-out.20240501T102030123Z.log`, `...log.gz` when compressed.
 */
export function rotatedFileName(app: string, stream: Stream, time: number): string {
  const stamp = new Date(time).toISOString().replace(/[-:.]/g, '');
  return `${app}-${stream}.${stamp}.log`;
}

export interface LogFileName {
  app: string;
  stream: Stream;
  /** Null for the current file; the rotation stamp (sortable) otherwise. */
  rotated: string | null;
  gzip: boolean;
}

const FILE = /^(.+)-(out|err|access)(?:\.(\d{8}T\d{9}Z))?\.log(\.gz)?$/;

export function parseFileName(name: string): LogFileName | null {
  const m = FILE.exec(name);
  if (!m) return null;
  return { app: m[1] as string, stream: m[2] as Stream, rotated: m[3] ?? null, gzip: m[4] !== undefined };
}
