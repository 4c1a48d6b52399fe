import * as fsSync from 'node:fs';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

/** A temp file beside `file`: the rename must stay on one file system to be atomic. */
function tempName(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2, 8)}.tmp`);
}

/**
 * Write a file so that readers see the old or the new content, never a torn
 * one: temp file, fsync, rename, then fsync of the directory so the rename
 * itself survives a power loss (without it, after a reboot the old file may
 * be back). A failed write leaves no temp file behind.
 */
export async function writeFileAtomic(file: string, data: string, mode = 0o600): Promise<void> {
  const tmp = tempName(file);
  try {
    const handle = await fs.open(tmp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await syncDirectory(path.dirname(file));
}

/** The same, blocking: for the few writes that must be done before the next line runs (the daemon's pid file). */
export function writeFileAtomicSync(file: string, data: string, mode = 0o600): void {
  const tmp = tempName(file);
  try {
    const fd = fsSync.openSync(tmp, 'wx', mode);
    try {
      fsSync.writeFileSync(fd, data);
      fsSync.fsyncSync(fd);
    } finally {
      fsSync.closeSync(fd);
    }
    fsSync.renameSync(tmp, file);
  } catch (err) {
    fsSync.rmSync(tmp, { force: true });
    throw err;
  }
  try {
    const dir = fsSync.openSync(path.dirname(file), 'r');
    try {
      fsSync.fsyncSync(dir);
    } finally {
      fsSync.closeSync(dir);
    }
  } catch {
    // see syncDirectory
  }
}

async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some file systems cannot fsync a directory (EINVAL); the file itself is synced and in place.
  }
}
