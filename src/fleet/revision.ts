import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** How long a revision is trusted before the disk is read again (a deploy copies files while apps run). */
const TTL_MS = 5000;

/**
 * The revision of an app's code on disk: the git commit of its `cwd` when
 * that is a git work tree (with `-dirty` when files differ from it), else a
 * content hash of its package.json and script, so a host whose files are
 * half copied shows another revision than the rest of the fleet.
 */
export class Revisions {
  private readonly cache = new Map<string, { at: number; revision: string }>();

  constructor(private readonly now: () => number = Date.now) {}

  of(cwd: string, script: string): string {
    const key = `${cwd}\0${script}`;
    const hit = this.cache.get(key);
    if (hit && this.now() - hit.at < TTL_MS) return hit.revision;
    const revision = gitRevision(cwd) ?? contentHash(cwd, script);
    this.cache.set(key, { at: this.now(), revision });
    return revision;
  }
}

function gitRevision(cwd: string): string | null {
  try {
    const run = (args: string[]) => execFileSync('git', ['-C', cwd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 2000 }).trim();
    const commit = run(['rev-parse', 'HEAD']);
    if (!/^[0-9a-f]{40}$/.test(commit)) return null;
    const dirty = run(['status', '--porcelain', '--untracked-files=no']) !== '';
    return `${commit.slice(0, 12)}${dirty ? '-dirty' : ''}`;
  } catch {
    // not a work tree, or no git on this machine
    return null;
  }
}

function contentHash(cwd: string, script: string): string {
  const hash = createHash('sha256');
  // Contents only: hosts that deploy the same files to other directories run the same revision.
  for (const file of [path.join(cwd, 'package.json'), path.resolve(cwd, script)]) {
    hash.update(path.basename(file));
    try {
      hash.update(fs.readFileSync(file));
    } catch {
      hash.update('\0missing');
    }
  }
  return `sha256:${hash.digest('hex').slice(0, 12)}`;
}
