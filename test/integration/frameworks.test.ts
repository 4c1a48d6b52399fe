import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { FIXTURES, freePort, get, herdHome, list } from '../helpers';

// Unmodified apps of every common shape, each on two workers sharing one port.
const APPS: { name: string; file: string; path: string; expect: RegExp; nodeArgs?: string[] }[] = [
  { name: 'plain', file: 'hello.js', path: '/', expect: /^\d+\n$/ },
  { name: 'esm', file: 'esm-app.mjs', path: '/', expect: /^esm \d+/ },
  { name: 'ts', file: 'ts-app.ts', path: '/', expect: /^typescript \d+/, nodeArgs: ['--import', 'tsx'] },
  { name: 'express', file: 'express-app.js', path: '/users/7', expect: /"id":"7"/ },
  { name: 'fastify', file: 'fastify-app.js', path: '/', expect: /"framework":"fastify"/ },
  { name: 'koa', file: 'koa-app.js', path: '/', expect: /"framework":"koa"/ },
];

test('plain http, ESM, TypeScript via tsx, Express, Fastify and Koa run clustered unmodified', async (t) => {
  const { home, herd } = herdHome(t);
  const ports = await Promise.all(APPS.map(() => freePort()));
  const config = path.join(home, 'herd.config.json');
  writeFileSync(config, JSON.stringify({
    apps: APPS.map((a, i) => ({
      name: a.name,
      script: path.join(FIXTURES, a.file),
      instances: 2,
      cwd: path.resolve(FIXTURES, '..', '..'),
      env: { PORT: String(ports[i]) },
      ...(a.nodeArgs ? { node_args: a.nodeArgs } : {}),
    })),
  }));
  const r = await herd(['start', config]);
  assert.equal(r.code, 0, r.stderr);
  const apps = await list(herd);
  for (const [i, a] of APPS.entries()) {
    const listed = apps.find((x) => x.name === a.name);
    assert.equal(listed?.status, 'online', `${a.name}: ${JSON.stringify(listed)}`);
    assert.equal(listed.workers.length, 2);
    const reply = await get(ports[i] as number, a.path);
    assert.equal(reply.status, 200, a.name);
    assert.match(reply.body, a.expect, a.name);
  }
  // A reload works the same for every framework.
  const reload = await herd(['reload', 'all']);
  assert.equal(reload.code, 0, reload.stderr);
});
