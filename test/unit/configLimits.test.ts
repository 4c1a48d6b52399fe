import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { loadTarget, type LoadOptions } from '../../src/config/load';

const dir = mkdtempSync(path.join(tmpdir(), 'herd-limits-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(path.join(dir, 'server.js'), '');
const options: LoadOptions = { cwd: dir, env: {}, envName: null, overrides: {}, interpreter: process.execPath, cpus: 2 };
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const refused = async (target: string, pattern: RegExp, code = 'HERD_ERR_CONFIG_INVALID') => {
  await assert.rejects(loadTarget(target, options), (err: Error & { code?: string; details?: string[] }) => {
    assert.equal(err.code, code);
    assert.match([err.message, ...(err.details ?? [])].join('\n'), pattern);
    return true;
  });
};

test('instances past the per-app limit are a config error naming the key, decided at once', async () => {
  const started = Date.now();
  await refused(file('many.config.json', '{ "apps": [{ "script": "server.js", "instances": 100000 }] }'), /apps\[0\]\.instances: 100000 is more than the limit of 1024/);
  assert.ok(Date.now() - started < 1000);
  await assert.rejects(loadTarget(path.join(dir, 'server.js'), { ...options, overrides: { instances: '5000' } }), /-i: 5000 is more than the limit of 1024/);
});

test('an environment too big for exec() is refused before anything starts', async () => {
  await refused(file('big.config.js', `module.exports = { apps: [{ script: 'server.js', env: { BIG: 'x'.repeat(8 * 1024 * 1024) } }] };`),
    /apps\[0\]\.env\.BIG: is too big \(8\.0MB\)/);
});

test('a config module that never finishes loading fails after the time limit with the file named', async () => {
  process.env.HERD_CONFIG_TIMEOUT_MS = '300';
  try {
    await refused(file('never.config.mjs', 'await new Promise(() => {});\nexport default { apps: [] };\n'), /loading never\.config\.mjs took longer than 0\.3s/);
  } finally {
    delete process.env.HERD_CONFIG_TIMEOUT_MS;
  }
});

test('a getter that throws is a config error naming the key, not a raw stack', async () => {
  await refused(file('getter.config.js', "module.exports = { apps: [{ script: 'server.js', get env() { throw new Error('no secrets here'); } }] };"),
    /apps\[0\]\.env: reading it threw .*no secrets here/);
});

test('a script that is a directory is a config error', async () => {
  mkdirSync(path.join(dir, 'app'), { recursive: true });
  await refused(file('dir.config.json', '{ "apps": [{ "script": "app" }] }'), /apps\[0\]\.script: .*app is a directory, not a script/);
});
