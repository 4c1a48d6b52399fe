/**
 * Reads what a config file exports: `.json` as PM2 reads it (JavaScript
 * literals, never run), `.yml`/`.yaml` with the yaml package, `.js`/`.cjs`/
 * `.mjs` as modules. A file that cannot be read is HERD_ERR_CONFIG_NOT_FOUND;
 * one that does not parse or load is HERD_ERR_CONFIG_INVALID with the file,
 * line and column, as an editor wants them.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Yaml from 'yaml';
import { HerdError } from '../errors';
import { JsonLikeSyntaxError, parseJsonLike } from './jsonLike';
import { describeLoadError } from './loadErrorPlace';
import { errorMessage, isRecord } from './report';

export interface ReadFile {
  /** What the file exports or contains. */
  exported: unknown;
  /** Things the parser noticed but read anyway (e.g. an unknown YAML tag), each with its place. */
  warnings: string[];
}

/** `display` turns an absolute path into what messages show (relative to the CLI's cwd when inside it). */
export async function readConfigFile(file: string, display: (file: string) => string): Promise<ReadFile> {
  const label = display(file);
  await assertReadable(file, label);
  const ext = path.extname(file);
  if (ext === '.json' || ext === '.json5') return { exported: parseJsonFile(await readText(file, label), label), warnings: [] };
  if (ext === '.yml' || ext === '.yaml') return parseYamlFile(await readText(file, label), label);
  return { exported: await withLoadTimeout(readModule(file, display), label), warnings: [] };
}

/**
 * A config module may await at top level or export a promise; one that never
 * settles (or takes a minute) must not leave the CLI waiting silently.
 */
export const CONFIG_LOAD_TIMEOUT_MS = 10_000;

function withLoadTimeout<T>(loading: Promise<T>, label: string, ms = Number(process.env.HERD_CONFIG_TIMEOUT_MS) || CONFIG_LOAD_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(invalid(label, `loading ${label} took longer than ${ms / 1000}s: a top-level await or an exported promise that does not settle?`)), ms);
  });
  return Promise.race([loading, timeout]).finally(() => clearTimeout(timer));
}

async function assertReadable(file: string, label: string): Promise<void> {
  let stat: fs.Stats;
  try {
    stat = await fs.promises.stat(file);
    await fs.promises.access(file, fs.constants.R_OK);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : errorMessage(err);
    throw new HerdError('HERD_ERR_CONFIG_NOT_FOUND', { file: label, reason });
  }
  if (!stat.isFile()) throw new HerdError('HERD_ERR_CONFIG_NOT_FOUND', { file: label, reason: 'not a regular file' });
}

async function readText(file: string, label: string): Promise<string> {
  try {
    return (await fs.promises.readFile(file, 'utf8')).replace(/^\uFEFF/, '');
  } catch (err) {
    throw new HerdError('HERD_ERR_CONFIG_NOT_FOUND', { file: label, reason: errorMessage(err) });
  }
}

function invalid(label: string, detail: string): HerdError {
  return new HerdError('HERD_ERR_CONFIG_INVALID', { file: label }, [detail]);
}

function parseJsonFile(text: string, label: string): unknown {
  try {
    return parseJsonLike(text);
  } catch (err) {
    if (!(err instanceof JsonLikeSyntaxError)) throw err;
    throw invalid(label, `JSON syntax error at ${label}:${err.line}:${err.column}: ${err.message}`);
  }
}

/** YAML 1.2 with `<<` merge keys, as PM2's js-yaml reads it. Loaded here only: the CLI stays light without YAML files. */
function parseYamlFile(text: string, label: string): ReadFile {
  const YAML = require('yaml') as typeof Yaml;
  const doc = YAML.parseDocument(text, { merge: true });
  const [error] = doc.errors;
  if (error !== undefined) throw invalid(label, `YAML syntax error at ${yamlPlace(label, error)}: ${yamlMessage(error)}`);
  const warnings = doc.warnings.map((w) => `YAML at ${yamlPlace(label, w)}: ${yamlMessage(w)}; read anyway`);
  try {
    return { exported: doc.toJS(), warnings };
  } catch (err) {
    throw invalid(label, `YAML error: ${errorMessage(err)}`);
  }
}

function yamlPlace(label: string, e: Yaml.YAMLError): string {
  const at = e.linePos?.[0];
  return at ? `${label}:${at.line}:${at.col}` : label;
}

/** The yaml package appends " at line L, column C" and a code frame to its messages; the place is shown apart. */
function yamlMessage(e: Yaml.YAMLError): string {
  return (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
}

// ---------------------------------------------------------------------------
// JavaScript configs

// TypeScript compiles `import()` to require() under CommonJS output; require()
// cannot load .mjs files, so the real dynamic import is hidden from the compiler.
const importESM = new Function('u', 'return import(u)') as (url: string) => Promise<unknown>;
let importSeq = 0;

async function readModule(file: string, display: (file: string) => string): Promise<unknown> {
  try {
    const loaded = isESMFile(file) ? await importFresh(file) : requireFresh(file);
    return plainData(await unwrapDefault(loaded), display(file), '');
  } catch (err) {
    if (err instanceof HerdError) throw err;
    throw invalid(display(file), describeLoadError(err, file, display));
  }
}

/**
 * A copy of what a JS config exports, read once, here: a getter that throws
 * (or a Proxy) becomes a config error naming the key, instead of a raw stack
 * from deep inside validation.
 */
function plainData(value: unknown, label: string, at: string, depth = 0): unknown {
  if (typeof value !== 'object' || value === null || depth > 32) return value;
  // Only plain objects and arrays are copied; a RegExp (ignore_watch) or a Date stays what it is.
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  const read = (key: string, get: () => unknown) => {
    const where = at === '' ? key : /^\d+$/.test(key) ? `${at}[${key}]` : `${at}.${key}`;
    try {
      return plainData(get(), label, where, depth + 1);
    } catch (err) {
      if (err instanceof HerdError) throw err;
      throw invalid(label, `${where}: reading it threw ${errorMessage(err)}`);
    }
  };
  if (Array.isArray(value)) return value.map((_, i) => read(String(i), () => value[i]));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) out[key] = read(key, () => (value as Record<string, unknown>)[key]);
  return out;
}

function isESMFile(file: string): boolean {
  const ext = path.extname(file);
  return ext === '.mjs' || (ext === '.js' && nearestPackageType(path.dirname(file)) === 'module');
}

function nearestPackageType(dir: string): string | null {
  for (let d = dir; ; d = path.dirname(d)) {
    const pkg = path.join(d, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        const parsed: unknown = JSON.parse(fs.readFileSync(pkg, 'utf8'));
        return isRecord(parsed) && typeof parsed.type === 'string' ? parsed.type : null;
      } catch {
        return null; // Node treats an unreadable package.json as no type, i.e. CommonJS
      }
    }
    if (path.dirname(d) === d) return null;
  }
}

/**
 * ESM modules are cached by URL for the life of the process, so a query that
 * changes on every load makes `herd reload` see the edited file. Each version
 * stays in memory; config files are small and reloads rare.
 */
function importFresh(file: string): Promise<unknown> {
  return importESM(`${pathToFileURL(file).href}?t=${Date.now()}-${++importSeq}`);
}

/**
 * A CommonJS config and the local files it requires are dropped from
 * require.cache after loading, so the next load reads them from disk again.
 * Packages under node_modules stay cached: they do not change between reloads.
 */
function requireFresh(file: string): unknown {
  const req = createRequire(file);
  delete req.cache[realPath(file)];
  const before = new Set(Object.keys(req.cache));
  try {
    return req(file);
  } finally {
    for (const key of Object.keys(req.cache)) {
      if (!before.has(key) && !key.includes(`${path.sep}node_modules${path.sep}`)) delete req.cache[key];
    }
  }
}

function realPath(file: string): string {
  try {
    return fs.realpathSync(file);
  } catch {
    return file;
  }
}

/** `export default {...}`, a transpiled `exports.default`, or a plain `module.exports`; may be a promise. */
function unwrapDefault(loaded: unknown): unknown {
  if (isRecord(loaded) && 'default' in loaded && !('apps' in loaded)) return loaded.default;
  return loaded;
}
