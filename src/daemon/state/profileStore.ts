import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { StallProfileView } from '../../protocol/profile';
import { writeFileAtomic } from '../../util/atomicWrite';

/** Profiles kept per app: the oldest go first, so the disk cannot fill. */
export const KEPT_PER_APP = 10;

/**
 * File name: what the listing shows is in it, so the directory is the whole
 * index (nothing else to keep in step, and it survives a daemon restart).
 * `2026-12-02T12-34-19.123Z_w1_p4242_d512ms_5000ms.cpuprofile`
 */
const NAME = /^(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z)_w(\d+)_p(\d+)_d(\d+)ms_(\d+)ms\.cpuprofile$/;

export interface StallCapture {
  time: number;
  worker: number;
  pid: number;
  delayMs: number;
  durationMs: number;
}

/**
 * The profiles profileOnStall took, under $HERD_HOME/profiles/<app>/
 * (0700, files 0600: a profile names the app's files and functions).
 */
export class ProfileStore {
  constructor(readonly dir: string) {}

  private appDir(app: string): string {
    // App names are checked at config time, but a name is never trusted as a path.
    return path.join(this.dir, encodeURIComponent(app));
  }

  /** Writes the profile atomically, then removes the oldest past KEPT_PER_APP; resolves with the path. */
  async save(app: string, capture: StallCapture, json: string): Promise<string> {
    const dir = this.appDir(app);
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    const stamp = new Date(capture.time).toISOString().replace(/:/g, '-');
    const file = path.join(dir, `${stamp}_w${capture.worker}_p${capture.pid}_d${Math.round(capture.delayMs)}ms_${Math.round(capture.durationMs)}ms.cpuprofile`);
    await writeFileAtomic(file, json, 0o600);
    const all = await this.list(app);
    for (const old of all.slice(0, Math.max(0, all.length - KEPT_PER_APP))) await fs.rm(old.path, { force: true });
    return file;
  }

  /** Oldest first; none when the app has no directory (or it cannot be read). */
  async list(app: string): Promise<StallProfileView[]> {
    const dir = this.appDir(app);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch {
      return [];
    }
    const views: StallProfileView[] = [];
    for (const file of names) {
      const m = NAME.exec(file);
      if (!m) continue;
      const iso = (m[1] as string).replace(/T(\d\d)-(\d\d)-(\d\d)/, 'T$1:$2:$3');
      views.push({
        time: Date.parse(iso), worker: Number(m[2]), pid: Number(m[3]), delayMs: Number(m[4]), durationMs: Number(m[5]),
        path: path.join(dir, file), file,
      });
    }
    return views.sort((a, b) => a.time - b.time || a.file.localeCompare(b.file));
  }

  /** The profile's JSON text; null when `file` is not one of the app's profiles. */
  async read(app: string, file: string): Promise<string | null> {
    if (!NAME.test(file)) return null;
    try {
      return await fs.readFile(path.join(this.appDir(app), file), 'utf8');
    } catch {
      return null;
    }
  }
}
