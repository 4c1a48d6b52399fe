#!/usr/bin/env node
// Cost of watching an app directory whose node_modules is big, for herd's
// `watch` (dist/daemon/reloads/treeWatcher.js), Node's own recursive fs.watch, and
// chokidar as PM2 runs it (PM2's default ignore; and with `ignore_watch` set,
// which replaces PM2's default so node_modules is walked).
// Each watcher runs in a child process of its own; reported: time until
// ready, the longest event-loop pause meanwhile, inotify watches, RSS, and
// the latency of one change after it.
// Usage: node bench/watch.mjs [--dirs 2000] [--files 10]   (build first: npm run build)
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? dflt : Number(process.argv[i + 1]);
};
const DIRS = arg('dirs', 2000);
const FILES = arg('files', 10);

const tree = mkdtempSync(path.join(tmpdir(), 'herd-bench-watch-'));
for (let i = 0; i < DIRS; i++) {
  const d = path.join(tree, 'node_modules', `pkg${i % 200}`, `lib${i}`);
  mkdirSync(d, { recursive: true });
  for (let j = 0; j < FILES; j++) writeFileSync(path.join(d, `f${j}.js`), 'x');
}
mkdirSync(path.join(tree, 'src', 'routes'), { recursive: true });
writeFileSync(path.join(tree, 'src', 'app.js'), '1');

// The child: set up one watcher, report when ready, then time one change.
const child = String.raw`
const fs = require('node:fs');
const [kind, root, rootDir] = process.argv.slice(1);
// Modules first: their loading is not the watcher's cost.
const herd = kind === 'herd' ? { ...require(rootDir + '/dist/daemon/reloads/treeWatcher.js'), ...require(rootDir + '/dist/daemon/reloads/watchIgnore.js') } : null;
const chokidar = kind.startsWith('pm2') ? require(rootDir + '/node_modules/chokidar') : null;
let maxPause = 0, last = Date.now();
const ticker = setInterval(() => { const now = Date.now(); maxPause = Math.max(maxPause, now - last - 5); last = now; }, 5);
const t0 = process.hrtime.bigint();
const ms = () => Number(process.hrtime.bigint() - t0) / 1e6;
let changedAt = 0;
const target = root + '/src/app.js';
const onChange = (p) => { if (changedAt && String(p).endsWith('app.js')) finish(ms() - changedAt); };
function watches() {
  let n = 0;
  for (const fd of fs.readdirSync('/proc/self/fd')) {
    try {
      if (fs.readlinkSync('/proc/self/fd/' + fd) === 'anon_inode:inotify') n += fs.readFileSync('/proc/self/fdinfo/' + fd, 'utf8').split('\n').filter((l) => l.startsWith('inotify')).length;
    } catch {}
  }
  return n;
}
let readyAt = 0;
function ready() {
  readyAt = ms();
  setTimeout(() => { changedAt = ms(); fs.writeFileSync(target, String(Date.now())); }, 200);
}
function finish(latency) {
  clearInterval(ticker);
  console.log(JSON.stringify({ kind, readyMs: readyAt, maxPauseMs: maxPause, watches: watches(), rssMb: Math.round(process.memoryUsage().rss / 1e6), changeMs: latency }));
  process.exit(0);
}
if (kind === 'herd') {
  const { TreeWatcher, watchIgnore } = herd;
  const w = new TreeWatcher({ roots: [root], ignored: watchIgnore({ roots: [root], cwd: root, ignore: [], exact: [] }), onChange, onProblem: console.error });
  w.start().then(ready);
} else if (kind === 'node-recursive') {
  fs.watch(root, { recursive: true }, (e, f) => onChange(f));
  ready();
} else {
  const ignored = kind === 'pm2-default' ? /[\/\\]\.|node_modules/ : ['logs'];
  chokidar.watch(root, { ignored, persistent: true, ignoreInitial: true, cwd: root }).on('all', (e, p) => onChange(p)).on('ready', ready);
}
setTimeout(() => { console.log(JSON.stringify({ kind, error: 'timed out' })); process.exit(1); }, 120000);
`;

const rows = [];
for (const kind of ['herd', 'node-recursive', 'pm2-default', 'pm2-ignore_watch']) {
  const r = spawnSync(process.execPath, ['-e', child, kind, tree, ROOT], { encoding: 'utf8' });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    rows.push(JSON.parse(line));
  } catch {
    rows.push({ kind, error: (r.stderr || line).slice(0, 200) });
  }
  process.stderr.write(`${kind}: ${line}\n`);
}
rmSync(tree, { recursive: true, force: true });

const label = {
  herd: 'herd `watch` (node_modules never walked)',
  'node-recursive': "Node's `fs.watch(dir, { recursive: true })`",
  'pm2-default': 'PM2 `watch: true` (chokidar, default ignore)',
  'pm2-ignore_watch': "PM2 `watch: true, ignore_watch: ['logs']` (default dropped)",
};
console.log(`Tree: node_modules with ${DIRS * FILES} files in ${DIRS} directories, plus src/. Node ${process.version}.\n`);
console.log('| watcher | ready after | longest event-loop pause | inotify watches | RSS | one change seen after |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  if (r.error) console.log(`| ${label[r.kind]} | error: ${r.error} | | | | |`);
  else console.log(`| ${label[r.kind]} | ${r.readyMs.toFixed(0)} ms | ${r.maxPauseMs} ms | ${r.watches} | ${r.rssMb} MB | ${r.changeMs.toFixed(0)} ms |`);
}
