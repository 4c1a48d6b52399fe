import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before } from 'node:test';
import type { LoadOptions } from '../src/config/load';

/**
 * A temporary directory with an empty server.js for config-loading tests,
 * made before the file's tests and removed after them.
 */
export function configFiles(prefix: string): { options: () => LoadOptions; write: (value: unknown) => Promise<string> } {
  let dir = '';
  let seq = 0;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), `herd-${prefix}-`));
    await writeFile(path.join(dir, 'server.js'), '');
  });
  after(() => rm(dir, { recursive: true, force: true }));
  return {
    options: () => ({ cwd: dir, env: {}, envName: null, overrides: {}, interpreter: '/usr/bin/node', cpus: 2 }),
    write: async (value) => {
      const p = path.join(dir, `c${++seq}.config.json`);
      await writeFile(p, JSON.stringify(value));
      return p;
    },
  };
}
