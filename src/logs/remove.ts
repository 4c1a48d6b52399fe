import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseFileName } from './format';

/** Delete every log file (current and rotated) of `app`, or of every app when null. */
export async function removeLogFiles(dir: string, app: string | null): Promise<string[]> {
  const apps = new Set<string>();
  let names: string[];
  try {
    names = await fs.promises.readdir(dir);
  } catch {
    return [];
  }
  for (const name of names) {
    const f = parseFileName(name);
    if (!f || (app !== null && f.app !== app)) continue;
    await fs.promises.rm(path.join(dir, name), { force: true });
    apps.add(f.app);
  }
  return [...apps].sort();
}
