import * as fs from 'node:fs';
import * as path from 'node:path';
import { PUBLIC_DIR } from '../dashboard/assets';
import { HerdError } from '../errors';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A flame-graph page that needs nothing but itself: the renderer
 * (dist/dashboard/public/flame.js, built from ui/flamePage.ts and the
 * dashboard's own flameGraph.ts) and its CSS inlined, the profile embedded
 * as JSON. No URL is loaded: it opens offline, from a mail or a ticket.
 */
export function flameHtml(profileJson: string, title: string, dir = PUBLIC_DIR): string {
  let js: string;
  let css: string;
  try {
    js = fs.readFileSync(path.join(dir, 'flame.js'), 'utf8');
    css = fs.readFileSync(path.join(dir, 'flame.css'), 'utf8');
  } catch (err) {
    throw new HerdError('HERD_ERR_USAGE', { message: `the flame-graph page is not built (${(err as Error).message}): run \`npm run build\` in the herd package` });
  }
  // In a script element only `</script` (any case) and `<!--` could end it early: `<` as a JSON escape avoids both.
  const data = profileJson.replace(/</g, '\\u003c');
  const safeJs = js.replace(/<\/(script)/gi, '<\\/$1');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>
body { margin: 16px; font: 14px/1.4 system-ui, sans-serif; color: #111; }
h1 { font-size: 18px; margin: 0 0 4px; }
.sub { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; margin-top: 16px; font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
th, td { padding: 2px 10px 2px 0; text-align: left; }
td.num, th.num { text-align: right; }
td.loc { color: #555; }
${css}
</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="sub">CPU profile taken by herd. The widest frames are where the time went; the .cpuprofile beside this file also opens in Chrome DevTools and speedscope.</p>
<div id="flame"></div>
<table><thead><tr><th>function</th><th>file:line</th><th class="num">self ms</th><th class="num">self</th><th class="num">total</th></tr></thead><tbody id="top"></tbody></table>
<script type="application/json" id="herd-profile">${data}</script>
<script>${safeJs}</script>
</body>
</html>
`;
}
