#!/usr/bin/env node
// Builds the dashboard page into dist/dashboard/public: ui/*.ts (with uPlot)
// bundled and minified into one app.js, herd's and uPlot's CSS into app.css,
// and index.html. Runs in `npm run build` and `prepare` (npm install); the
// page needs no CDN. Type checking is `tsc -p tsconfig.ui.json` (npm test).
import { build } from 'esbuild';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'dashboard', 'public');
const require = createRequire(import.meta.url);
mkdirSync(out, { recursive: true });

await build({
  entryPoints: [join(root, 'ui', 'main.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outfile: join(out, 'app.js'),
  legalComments: 'none',
  logLevel: 'warning',
});
// The flame graph's page of `herd profile`: its own bundle and CSS, which
// src/profile/flameHtml.ts inlines into each page it writes (no network).
await build({
  entryPoints: [join(root, 'ui', 'flamePage.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outfile: join(out, 'flame.js'),
  legalComments: 'none',
  logLevel: 'warning',
});
const flameCss = readFileSync(join(root, 'ui', 'flame.css'), 'utf8');
writeFileSync(join(out, 'flame.css'), flameCss);
const uplotCss = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
writeFileSync(join(out, 'app.css'), `${uplotCss}\n${readFileSync(join(root, 'ui', 'style.css'), 'utf8')}\n${flameCss}`);
copyFileSync(join(root, 'ui', 'index.html'), join(out, 'index.html'));

if (process.argv.includes('--sizes')) {
  for (const f of ['index.html', 'app.js', 'app.css', 'flame.js', 'flame.css']) {
    const body = readFileSync(join(out, f));
    console.log(`${f}: ${statSync(join(out, f)).size} bytes, ${gzipSync(body, { level: 9 }).length} gzipped`);
  }
}
