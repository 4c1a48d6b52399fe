import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hideAgentFromChildren } from '../../src/agent/childProcesses';
import { listenKey, parseInherited } from '../../src/agent/listenWatch';

test("the agent's own flags leave execArgv; the app's nodeArgs stay", () => {
  const argv = ['--require', '/opt/herd/dist/agent/main.js', '--inspect-port=0', '--import', 'tsx'];
  hideAgentFromChildren(argv, {}, '/opt/herd/dist/agent/main.js');
  assert.deepEqual(argv, ['--import', 'tsx']);
  const noInspect = ['--require', '/a.js', '--max-old-space-size=256'];
  hideAgentFromChildren(noInspect, {}, '/a.js');
  assert.deepEqual(noInspect, ['--max-old-space-size=256']);
  // Another --require (the app's own preload) is not touched.
  const other = ['--require', './tracing.js'];
  hideAgentFromChildren(other, {}, '/a.js');
  assert.deepEqual(other, ['--require', './tracing.js']);
});

test("variables meant for the agent are deleted; the app's are kept", () => {
  const env: NodeJS.ProcessEnv = {
    HERD_METRICS: '1', HERD_OVERLOAD: '{}', HERD_ACCESS_LOG: '4', HERD_LISTEN_FDS: '[]', NODE_UNIQUE_ID: '3',
    HERD_APP_NAME: 'api', HERD_WORKER_ID: '1', NODE_APP_INSTANCE: '1', PORT: '3000',
  };
  hideAgentFromChildren([], env, '/a.js');
  assert.deepEqual(env, { HERD_APP_NAME: 'api', HERD_WORKER_ID: '1', NODE_APP_INSTANCE: '1', PORT: '3000' });
});

test('only TCP listen() calls on a fixed port can adopt an earlier worker\'s socket', () => {
  assert.equal(listenKey({ port: 3000 }), '|3000');
  assert.equal(listenKey({ port: '8080', host: '127.0.0.1' }), '127.0.0.1|8080');
  assert.equal(listenKey({ port: 0 }), null);
  assert.equal(listenKey({ path: '/tmp/app.sock' }), null);
  assert.equal(listenKey({ fd: 3 }), null);
});

test('HERD_LISTEN_FDS: malformed input is ignored, not fatal', () => {
  assert.deepEqual(parseInherited('[{"fd":5,"key":"|3000"}]'), [{ fd: 5, key: '|3000' }]);
  assert.deepEqual(parseInherited('not json'), []);
  assert.deepEqual(parseInherited('[{"fd":"x"}]'), []);
  assert.deepEqual(parseInherited(undefined), []);
});
