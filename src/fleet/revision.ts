import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** How long a revision is trusted before the disk is read again (a deploy copies files while apps run). */
const TTL_MS = 5000;

/**
 * The revision of an app's code on disk: the git commit of its `cwd` when
 * that is a git work tree (with `-dirty` when tracked files differ from it),
 * else a content hash of its package.json and script, so a host whose files
 * are half copied shows another revision than the rest of the fleet.
 *
 * Read off the daemon's event loop: `of()` answers from the cache at once
 * and starts a refresh (at most one per app) when the entry is old; the
 * first answer for an app is its content hash until git has replied.
 */
export class Revisions {
  private readonly cache = new Map<string, { at: number; revision: string; refreshing: boolean }>();
  private closed = false;

  constructor(private readonly now: () => number = Date.now) {}

  of(cwd: string, script: string): string {
    const key = `${cwd}\0${script}`;
    let entry = this.cache.get(key);
    if (!entry) {
      entry = { at: 0, revision: contentHash(cwd, script), refreshing: false };
      this.cache.set(key, entry);
    }
    if (!entry.refreshing && this.now() - entry.at >= TTL_MS) {
      const e = entry;
      e.refreshing = true;
      void gitRevision(cwd).then((git) => {
        if (this.closed) return;
        e.revision = git ?? contentHash(cwd, script);
        e.at = this.now();
        e.refreshing = false;
      });
    }
    return entry.revision;
  }

  /** Read from the disk now (and kept): what `--expect-revision` and a reload check. */
  async fresh(cwd: string, script: string): Promise<string> {
    const revision = (await gitRevision(cwd)) ?? contentHash(cwd, script);
    if (!this.closed) this.cache.set(`${cwd}\0${script}`, { at: this.now(), revision, refreshing: false });
    return revision;
  }

  close(): void {
    this.closed = true;
    this.cache.clear();
  }
}

/** `git -C cwd` with the work tree's own hooks kept out: the daemon may be root, the tree the app's. */
function git(cwd: string, args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', ['-c', 'core.fsmonitor=', '-c', 'core.hooksPath=/dev/null', '-C', cwd, ...args], { encoding: 'utf8', timeout: 2000 },
      (err, stdout) => resolve(err ? null : stdout.trim()));
  });
}

async function gitRevision(cwd: string): Promise<string | null> {
  const commit = await git(cwd, ['rev-parse', 'HEAD']);
  if (commit === null || !/^[0-9a-f]{40}$/.test(commit)) return null;
  const status = await git(cwd, ['status', '--porcelain', '--untracked-files=no']);
  return `${commit.slice(0, 12)}${status ? '-dirty' : ''}`;
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
