import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import type { LoadOptions } from '../src/config/load';

export interface ConfigFiles {
  /** The directory (valid inside tests and after `ready`). */
  dir: () => string;
  /** Resolves once the directory exists: a test file's own `before` hooks may run alongside this one's. */
  ready: () => Promise<void>;
  options: () => LoadOptions;
  /** A JSON config file made of `value`. */
  write: (value: unknown) => Promise<string>;
  /** A file named `name` with this text, in a fresh subdirectory so that tests never share files. */
  text: (name: string, content: string, sub?: string) => Promise<string>;
  /** An executable shell script at `rel` (e.g. 'bin/python3'), for interpreters and commands found on PATH. */
  executable: (rel: string) => Promise<string>;
}

/**
 * A temporary directory with an empty server.js for config-loading tests,
 * made before the file's tests and removed after them.
 */
export function configFiles(prefix: string): ConfigFiles {
  let dir = '';
  let seq = 0;
  let made: Promise<void> | null = null;
  const ready = () => {
    made ??= (async () => {
      dir = await mkdtemp(path.join(tmpdir(), `herd-${prefix}-`));
      await writeFile(path.join(dir, 'server.js'), '');
    })();
    return made;
  };
  before(ready);
  after(() => rm(dir, { recursive: true, force: true }));
  return {
    dir: () => dir,
    ready,
    options: () => ({ cwd: dir, env: {}, envName: null, overrides: {}, interpreter: '/usr/bin/node', cpus: 2 }),
    write: async (value) => {
      await ready();
      const p = path.join(dir, `c${++seq}.config.json`);
      await writeFile(p, JSON.stringify(value));
      return p;
    },
    text: async (name, content, sub = `case${++seq}`) => {
      await ready();
      const p = path.join(dir, sub, name);
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, content);
      return p;
    },
    executable: async (rel) => {
      await ready();
      const p = path.join(dir, rel);
      await mkdir(path.dirname(p), { recursive: true });
      await writeFile(p, '#!/bin/sh\nexit 0\n');
      await chmod(p, 0o755);
      return p;
    },
  };
}
