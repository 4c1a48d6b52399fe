/**
 * Turns a command-line target (a script or a config file) into validated,
 * frozen AppSpecs. Config files may use herd's camelCase keys or PM2's
 * snake_case ecosystem keys; every problem is collected with its path and
 * reported together, and nothing in a file is ignored without a warning.
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HerdError } from '../errors';
import { parseDuration, parseSize } from '../util/units';
import { isLoopback } from '../util/loopback';
import { ALERT_METRICS, isAlertMetric, parseThreshold } from '../metrics/alertMetrics';
import {
  DEFAULTS,
  type AppSpec,
  type BackoffSpec,
  type CliOverrides,
  type ConfigProblem,
  type CrashLoopSpec,
  type LogsSpec,
  type HealthCheckSpec,
  type HealthEndpointSpec,
  type OverloadSpec,
  type AlertRule,
  type AlertsSettings,
  type DashboardSettings,
  type DaemonSettings,
  type PrometheusSettings,
  type ReloadSpec,
} from './types';

export interface LoadOptions {
  /** The CLI's cwd: a script target resolves against it (a config file's apps resolve against the file's dir). */
  cwd: string;
  /** The CLI's environment at that moment, without undefined values. */
  env: Readonly<Record<string, string>>;
  /** `--env <name>`: merges each app's env_<name> over its env (PM2 semantics). */
  envName: string | null;
  /** --name, -i and `-- app args`. */
  overrides: CliOverrides;
  /** `--only a,b`: pick apps from a config by name. */
  only?: readonly string[];
  /** The default node binary (process.execPath). */
  interpreter: string;
  /** For instances 'max' and -1. */
  cpus: number;
}

export interface LoadResult {
  specs: AppSpec[];
  warnings: string[];
  /** Top-level settings of a config file; null for a script target, which changes no daemon setting. */
  settings: DaemonSettings | null;
}


const CONFIG_BASENAME = /^(herd\.config|ecosystem\.config|ecosystem)\.(js|cjs|mjs)$|\.config\.(js|cjs|mjs)$/;

/** True when `target` names a config file rather than a script to run. */
export function isConfigFile(target: string): boolean {
  const base = path.basename(target);
  return path.extname(base) === '.json' || CONFIG_BASENAME.test(base);
}

export async function loadTarget(target: string, opts: LoadOptions): Promise<LoadResult> {
  return isConfigFile(target) ? loadConfigFile(path.resolve(opts.cwd, target), opts) : loadScript(target, opts);
}

// ---------------------------------------------------------------------------
// Script targets

const INSTANCES_RULE = "must be a positive integer, 'max' or -1";

function loadScript(target: string, opts: LoadOptions): LoadResult {
  const script = path.resolve(opts.cwd, target);
  if (!fs.existsSync(script)) throw new HerdError('HERD_ERR_SCRIPT_NOT_FOUND', { script });
  const warnings: string[] = [];
  if (opts.envName !== null) warnings.push(`--env ${opts.envName}: a script has no env_${opts.envName} section; ignored`);
  if (opts.only !== undefined) warnings.push('--only: applies to config files only; ignored');

  const name = opts.overrides.name ?? scriptBaseName(script);
  const nameProblem = checkName(name);
  if (nameProblem) {
    const flag = opts.overrides.name === undefined ? `name "${name}" (from the script)` : '--name';
    throw new HerdError('HERD_ERR_USAGE', { message: `${flag}: ${nameProblem}; pick another with --name` });
  }
  let instances = 1;
  if (opts.overrides.instances !== undefined) {
    const setting = parseInstances(opts.overrides.instances);
    if (setting === null) {
      throw new HerdError('HERD_ERR_USAGE', { message: `-i: ${INSTANCES_RULE}; got ${show(opts.overrides.instances)}` });
    }
    instances = resolveInstances(setting, opts.cpus);
  }
  const spec: AppSpec = {
    name,
    script,
    args: [...(opts.overrides.args ?? [])],
    cwd: path.resolve(opts.cwd),
    instances,
    execMode: 'cluster',
    env: { ...opts.env },
    nodeArgs: [],
    interpreter: opts.interpreter,
    runner: 'node',
    instanceVar: DEFAULTS.instanceVar,
    sticky: false,
    websocketDrain: DEFAULTS.websocketDrain,
    cronRestart: null,
    watch: null,
    logFiles: { out: null, err: null, combined: null },
    maxMemory: null,
    killTimeout: DEFAULTS.killTimeout,
    listenTimeout: DEFAULTS.listenTimeout,
    waitReady: false,
    autorestart: true,
    backoff: { ...DEFAULTS.backoff },
    crashLoop: { ...DEFAULTS.crashLoop },
    reload: { ...DEFAULTS.reload },
    logs: { ...DEFAULTS.logs },
    accessLog: DEFAULTS.accessLog,
    overload: null,
    healthCheck: null,
    stallTimeout: DEFAULTS.stallTimeout,
    minReady: DEFAULTS.minReady,
    metrics: true,
    source: { configFile: null, envName: opts.envName, cliOverrides: copyOverrides(opts.overrides) },
  };
  return { specs: [deepFreeze(spec)], warnings, settings: null };
}

function scriptBaseName(script: string): string {
  return path.basename(script, path.extname(script));
}

// ---------------------------------------------------------------------------
// Reading config files

async function loadConfigFile(file: string, opts: LoadOptions): Promise<LoadResult> {
  const label = displayPath(file, opts.cwd);
  await assertReadable(file, label);
  const exported = path.extname(file) === '.json' ? await readJson(file, label) : await readModule(file, label);
  const r = new Report(label);
  const drafts = readTopLevel(exported, path.dirname(file), r);
  const settings = readSettings(exported, r);
  const specs = buildSpecs(drafts, file, opts, r);
  if (r.problems.length > 0) {
    throw new HerdError('HERD_ERR_CONFIG_INVALID', { file: label }, byApp(r.problems).map((p) => `${p.path}: ${p.message}`));
  }
  return { specs: specs.map(deepFreeze), warnings: r.warnings, settings: deepFreeze(settings) };
}

/** Problems grouped by app in file order (checks run in two passes); CLI-flag problems last. */
function byApp(problems: readonly ConfigProblem[]): ConfigProblem[] {
  const index = (p: ConfigProblem) => {
    const m = /^apps\[(\d+)\]/.exec(p.path);
    return m ? Number(m[1]) : p.path.startsWith('-') ? Infinity : -1;
  };
  return [...problems].sort((a, b) => index(a) - index(b)); // stable: keeps order within an app
}

/** Shown in messages: relative to the CLI's cwd when inside it, so it reads like what the user typed. */
function displayPath(file: string, cwd: string): string {
  const rel = path.relative(cwd, file);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
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

async function readJson(file: string, label: string): Promise<unknown> {
  let text: string;
  try {
    text = await fs.promises.readFile(file, 'utf8');
  } catch (err) {
    throw new HerdError('HERD_ERR_CONFIG_NOT_FOUND', { file: label, reason: errorMessage(err) });
  }
  text = text.replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HerdError('HERD_ERR_CONFIG_INVALID', { file: label }, [`JSON syntax error: ${withLineColumn(errorMessage(err), text)}`]);
  }
}

/** Node 20's JSON errors give only a character position; a line and column is what an editor needs. */
function withLineColumn(message: string, text: string): string {
  const m = /at position (\d+)/.exec(message);
  if (!m || /line \d+/.test(message)) return message;
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${message} (line ${line} column ${column})`;
}

// TypeScript compiles `import()` to require() under CommonJS output; require()
// cannot load .mjs files, so the real dynamic import is hidden from the compiler.
const importESM = new Function('u', 'return import(u)') as (url: string) => Promise<unknown>;
let importSeq = 0;

async function readModule(file: string, label: string): Promise<unknown> {
  try {
    const loaded = isESMFile(file) ? await importFresh(file) : requireFresh(file);
    return await unwrapDefault(loaded);
  } catch (err) {
    const detail = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new HerdError('HERD_ERR_CONFIG_INVALID', { file: label }, [`cannot load: ${detail}`]);
  }
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

// ---------------------------------------------------------------------------
// Problems and warnings

class Report {
  readonly problems: ConfigProblem[] = [];
  readonly warnings: string[] = [];

  constructor(private readonly label: string) {}

  problem(at: string, message: string): void {
    this.problems.push({ path: at, message });
  }

  warn(at: string, message: string): void {
    this.warnings.push(`${this.label}: ${at}: ${message}`);
  }
}

function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

function show(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'string') return JSON.stringify(value);
  return String(value);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------
// Keys

/** Every accepted spelling of each setting; the first is herd's name and wins when several are given. */
const FIELD_KEYS = {
  name: ['name'],
  script: ['script', 'exec'],
  args: ['args'],
  cwd: ['cwd'],
  instances: ['instances'],
  execMode: ['execMode', 'exec_mode'],
  env: ['env'],
  nodeArgs: ['nodeArgs', 'node_args', 'interpreter_args', 'interpreterArgs'],
  interpreter: ['interpreter', 'exec_interpreter'],
  maxMemory: ['maxMemory', 'max_memory_restart'],
  killTimeout: ['killTimeout', 'kill_timeout'],
  listenTimeout: ['listenTimeout', 'listen_timeout'],
  websocketDrain: ['websocketDrain'],
  waitReady: ['waitReady', 'wait_ready'],
  autorestart: ['autorestart'],
  autostart: ['autostart'],
  port: ['port'],
  backoff: ['backoff'],
  crashLoop: ['crashLoop'],
  reload: ['reload'],
  logs: ['logs'],
  accessLog: ['accessLog'],
  overload: ['overload'],
  healthCheck: ['healthCheck', 'health_check'],
  stallTimeout: ['stallTimeout', 'stall_timeout'],
  minReady: ['minReady', 'min_ready'],
  metrics: ['metrics'],
  maxRestarts: ['max_restarts'],
  minUptime: ['min_uptime'],
  restartDelay: ['restart_delay'],
  expBackoffRestartDelay: ['exp_backoff_restart_delay'],
} as const;

type Field = keyof typeof FIELD_KEYS;

const KNOWN_APP_KEYS: ReadonlySet<string> = new Set(Object.values(FIELD_KEYS).flat());

/** PM2 ecosystem attributes (lib/API/schema.json and its aliases) that herd has no equivalent for. */
const PM2_UNSUPPORTED: ReadonlySet<string> = new Set([
  'name_prefix', 'filter_env', 'namespace', 'install_url',
  'out_file', 'out', 'output', 'out_log', 'error_file', 'error', 'err', 'err_file', 'err_log',
  'log_file', 'log', 'disable_logs', 'log_type', 'log_date_format', 'time', 'merge_logs', 'combine_logs',
  'pid_file', 'pid', 'source_map_support', 'disable_source_map_support', 'shutdown_with_message',
  'cron_restart', 'cron', 'vizion', 'stop_exit_codes', 'watch', 'ignore_watch', 'watch_options', 'watch_delay',
  'execute_command', 'force', 'append_env_to_name', 'post_update', 'trace', 'disable_trace', 'v8',
  'event_loop_inspector', 'deep_monitoring', 'increment_var', 'instance_var', 'pmx', 'automation', 'treekill',
  'username', 'uid', 'user', 'gid', 'windowsHide', 'kill_retry_time', 'write', 'io',
]);

/**
 * `false` turns these PM2 features off, which is what herd does anyway, so
 * nothing is lost and a warning would only be noise (`watch: false` is in
 * most generated ecosystem files). treekill:false would change behaviour.
 */
function isNeutralPm2Value(key: string, value: unknown): boolean {
  return value === false && key !== 'treekill';
}

function camelToSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Warn about every key that is not read, so nothing in a file is silently ignored. */
function checkKeys(raw: Record<string, unknown>, at: string, r: Report): void {
  for (const key of Object.keys(raw)) {
    if (KNOWN_APP_KEYS.has(key) || key.startsWith('env_')) continue;
    if (PM2_UNSUPPORTED.has(key) || PM2_UNSUPPORTED.has(camelToSnake(key))) {
      if (!isNeutralPm2Value(key, raw[key])) r.warn(join(at, key), 'PM2 option not supported by herd; ignored');
      continue;
    }
    r.warn(join(at, key), unknownKeyMessage(key, [...KNOWN_APP_KEYS, ...PM2_UNSUPPORTED]));
  }
}

function checkNestedKeys(raw: Record<string, unknown>, known: readonly string[], at: string, r: Report): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) r.warn(join(at, key), unknownKeyMessage(key, known));
  }
}

function unknownKeyMessage(key: string, candidates: Iterable<string>): string {
  const near = closest(key, candidates);
  return near === null ? 'unknown key; ignored' : `unknown key; ignored (did you mean '${near}'?)`;
}

/** The candidate within a small edit distance of `key`, if any: catches typos, not different words. */
function closest(key: string, candidates: Iterable<string>): string | null {
  const limit = Math.max(1, Math.min(3, Math.floor(key.length / 3)));
  let best: string | null = null;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row.push(Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** The value of a setting under whichever spelling is used; extra spellings get a warning. */
function pick(raw: Record<string, unknown>, field: Field, at: string, r: Report): { key: string; value: unknown } | undefined {
  const present = FIELD_KEYS[field].filter((k) => raw[k] !== undefined);
  const [first, ...rest] = present;
  if (first === undefined) return undefined;
  for (const other of rest) r.warn(join(at, other), `also set as '${first}'; ignored`);
  return { key: join(at, first), value: raw[first] };
}

// ---------------------------------------------------------------------------
// Top level: { apps: [...] }, a bare array, or a single app object

const TOP_LEVEL_KEYS = ['apps', 'deploy', 'health', 'metrics', 'alerts', 'dashboard'];

function readTopLevel(exported: unknown, baseDir: string, r: Report): Draft[] {
  if (Array.isArray(exported)) return readApps(exported, 'apps', baseDir, r);
  if (!isRecord(exported)) {
    r.problem('(file)', `must export { apps: [...] } or an array of apps; got ${show(exported)}`);
    return [];
  }
  if (!('apps' in exported) && 'script' in exported) {
    // PM2 also starts a JSON file that is a single app declaration.
    return [readApp(exported, '', baseDir, r)];
  }
  for (const key of Object.keys(exported)) {
    if (key === 'deploy') r.warn(key, 'PM2 option not supported by herd; ignored');
    else if (!TOP_LEVEL_KEYS.includes(key)) r.warn(key, unknownKeyMessage(key, TOP_LEVEL_KEYS));
  }
  if (!Array.isArray(exported.apps)) {
    r.problem('apps', `must be an array of apps; got ${exported.apps === undefined ? 'nothing' : show(exported.apps)}`);
    return [];
  }
  return readApps(exported.apps, 'apps', baseDir, r);
}

/** Top level `metrics: { prometheus: { port, host, token } }`. */
function readPrometheus(exported: unknown, r: Report): PrometheusSettings | null {
  if (!isRecord(exported) || !('apps' in exported) || exported.metrics === undefined) return null;
  const metrics = readObject({ key: 'metrics', value: exported.metrics }, ['prometheus'], r);
  const promSetting = sub(metrics, 'prometheus', 'metrics');
  const prom = readObject(promSetting, ['port', 'host', 'token'], r);
  if (promSetting === undefined || prom === undefined) return null;
  const portSetting = sub(prom, 'port', promSetting.key);
  if (portSetting === undefined) r.problem(`${promSetting.key}.port`, 'is required (the port to serve /metrics on)');
  const port = portSetting === undefined ? null : readPort(portSetting, r);
  const host = readString(sub(prom, 'host', promSetting.key), r) ?? '127.0.0.1';
  const token = readString(sub(prom, 'token', promSetting.key), r) ?? null;
  if (!isLoopback(host) && token === null) {
    r.warn(`${promSetting.key}.host`, `${host} is reachable from other machines and no token is set: anyone who can reach it can read your metrics`);
  }
  return port === null ? null : { port, host, token };
}

function readApps(list: unknown[], at: string, baseDir: string, r: Report): Draft[] {
  if (list.length === 0) r.problem(at, 'lists no apps');
  const drafts: Draft[] = [];
  list.forEach((item, i) => {
    const itemAt = `${at}[${i}]`;
    if (!isRecord(item)) return r.problem(itemAt, `must be an object; got ${show(item)}`);
    drafts.push(readApp(item, itemAt, baseDir, r));
  });
  return drafts;
}

// ---------------------------------------------------------------------------
// One app

/** An app as read from the file, before CLI overrides, --env and file checks. */
interface Draft {
  at: string;
  /** False when a setting had a problem: the app is still checked further, so every problem shows at once. */
  ok: boolean;
  name: string;
  /** Where `name` came from, for messages about duplicates. */
  nameKey: string;
  script: string;
  scriptKey: string;
  args: string[];
  cwd: string;
  instances: InstancesSetting;
  execMode: 'cluster' | 'fork';
  env: Record<string, string>;
  /** env_<name> sections by <name>. */
  envSections: Map<string, Record<string, string>>;
  nodeArgs: string[];
  interpreter: { value: string; key: string } | null;
  maxMemory: number | null;
  killTimeout: number;
  listenTimeout: number;
  websocketDrain: number;
  waitReady: boolean;
  autorestart: boolean;
  autostart: boolean;
  port: number | null;
  backoff: BackoffSpec;
  crashLoop: CrashLoopSpec;
  reload: ReloadSpec;
  logs: LogsSpec;
  accessLog: boolean;
  overload: OverloadSpec | null;
  healthCheck: HealthCheckSpec | null;
  stallTimeout: number;
  minReady: number;
  metrics: boolean;
}

/** Reads every setting of one app, reporting each problem. */
function readApp(raw: Record<string, unknown>, at: string, baseDir: string, r: Report): Draft {
  const before = r.problems.length;
  checkKeys(raw, at, r);
  const get = (field: Field) => pick(raw, field, at, r);

  const scriptSetting = get('script');
  const script = readString(scriptSetting, r);
  if (scriptSetting === undefined) r.problem(join(at, 'script'), 'is required (the path of the entry script)');
  const cwdSetting = readString(get('cwd'), r);
  const nameSetting = get('name');
  const name = nameSetting === undefined ? (script ? scriptBaseName(script) : '') : readName(nameSetting, r);

  const draft: Draft = {
    at,
    ok: true,
    name: name ?? '',
    nameKey: nameSetting?.key ?? join(at, 'script'),
    script: script ?? '',
    scriptKey: scriptSetting?.key ?? join(at, 'script'),
    args: readArgs(get('args'), r) ?? [],
    cwd: cwdSetting ? path.resolve(baseDir, cwdSetting) : baseDir,
    instances: readInstances(get('instances'), r) ?? 1,
    execMode: readExecMode(get('execMode'), r) ?? 'cluster',
    env: readEnv(get('env'), r) ?? {},
    envSections: readEnvSections(raw, at, r),
    nodeArgs: readArgs(get('nodeArgs'), r) ?? [],
    interpreter: readInterpreterSetting(get('interpreter'), r),
    maxMemory: readMaxMemory(get('maxMemory'), r),
    killTimeout: readDuration(get('killTimeout'), r, 0) ?? DEFAULTS.killTimeout,
    listenTimeout: readDuration(get('listenTimeout'), r, 1) ?? DEFAULTS.listenTimeout,
    websocketDrain: readDuration(get('websocketDrain'), r, 0) ?? DEFAULTS.websocketDrain,
    waitReady: readBoolean(get('waitReady'), r) ?? false,
    autorestart: readBoolean(get('autorestart'), r) ?? true,
    autostart: readBoolean(get('autostart'), r) ?? true,
    port: readPort(get('port'), r),
    backoff: readBackoff(raw, at, r),
    crashLoop: readCrashLoop(raw, at, r),
    reload: readReload(get('reload'), r),
    logs: readLogs(get('logs'), r),
    accessLog: readBoolean(get('accessLog'), r) ?? DEFAULTS.accessLog,
    overload: null,
    healthCheck: readHealthCheck(get('healthCheck'), r),
    stallTimeout: readDuration(get('stallTimeout'), r, 0) ?? DEFAULTS.stallTimeout,
    minReady: readNonNegativeInt(get('minReady'), r) ?? DEFAULTS.minReady,
    metrics: readBoolean(get('metrics'), r) ?? DEFAULTS.metrics,
  };
  // The health-check path is never shed, whatever `overload.exempt` says.
  draft.overload = readOverload(get('overload'), draft.healthCheck, r);
  draft.ok = r.problems.length === before;
  return draft;
}

type Setting = { key: string; value: unknown } | undefined;

function readString(s: Setting, r: Report): string | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'string' && s.value.trim() !== '') return s.value;
  r.problem(s.key, `must be a non-empty string; got ${show(s.value)}`);
  return undefined;
}

function readName(s: NonNullable<Setting>, r: Report): string | undefined {
  const name = readString(s, r);
  if (name === undefined) return undefined;
  const problem = checkName(name);
  if (problem) r.problem(s.key, problem);
  return problem ? undefined : name;
}

/** Names become log file names and CLI targets. */
function checkName(name: string): string | null {
  if (name.trim() === '') return 'must not be empty';
  if (/[/\\]/.test(name) || /[\u0000-\u001f]/.test(name)) return `must not contain path separators or control characters; got ${show(name)}`;
  if (name === 'all') return "'all' is reserved (it means every app in CLI commands)";
  return null;
}

function readArgs(s: Setting, r: Report): string[] | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'string') return splitArgs(s.value);
  if (Array.isArray(s.value)) {
    const bad = s.value.findIndex((v) => !['string', 'number', 'boolean'].includes(typeof v));
    if (bad === -1) return s.value.map(String);
    r.problem(`${s.key}[${bad}]`, `must be a string; got ${show(s.value[bad])}`);
    return undefined;
  }
  r.problem(s.key, `must be a string or an array of strings; got ${show(s.value)}`);
  return undefined;
}

/** Splits on whitespace, keeping quoted parts together ("--title 'my app'") as a shell would. */
function splitArgs(text: string): string[] {
  const out: string[] = [];
  const re = /"((?:\\.|[^"\\])*)"|'([^']*)'|(\S+)/g;
  let current: string | null = null;
  let lastEnd = -1;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const part = m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? m[3] ?? '');
    // Adjacent pieces with no space between (--x="a b") form one argument.
    if (current !== null && m.index === lastEnd) current += part;
    else {
      if (current !== null) out.push(current);
      current = part;
    }
    lastEnd = m.index + m[0].length;
  }
  if (current !== null) out.push(current);
  return out;
}

/** A worker count, or one that depends on the cpu count of the machine running the CLI. */
type InstancesSetting = number | 'max' | 'max-1';

function parseInstances(value: unknown): InstancesSetting | null {
  const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (n === 'max' || n === 0) return 'max'; // PM2 reads 0 as 'max'
  if (n === -1) return 'max-1';
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 ? n : null;
}

function resolveInstances(setting: InstancesSetting, cpus: number): number {
  if (setting === 'max') return Math.max(1, cpus);
  if (setting === 'max-1') return Math.max(1, cpus - 1);
  return setting;
}

function readInstances(s: Setting, r: Report): InstancesSetting | undefined {
  if (s === undefined) return undefined;
  const setting = parseInstances(s.value);
  if (setting === null) r.problem(s.key, `${INSTANCES_RULE}; got ${show(s.value)}`);
  return setting ?? undefined;
}

function readExecMode(s: Setting, r: Report): 'cluster' | 'fork' | undefined {
  if (s === undefined) return undefined;
  if (s.value === 'cluster' || s.value === 'cluster_mode') return 'cluster';
  if (s.value === 'fork' || s.value === 'fork_mode') return 'fork';
  r.problem(s.key, `must be 'cluster' or 'fork'; got ${show(s.value)}`);
  return undefined;
}

function readEnv(s: Setting, r: Report): Record<string, string> | undefined {
  if (s === undefined) return undefined;
  if (!isRecord(s.value)) {
    r.problem(s.key, `must be an object of variables; got ${show(s.value)}`);
    return undefined;
  }
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(s.value)) {
    // `KEY: process.env.KEY` is common in JS configs; undefined means "not set".
    if (value === undefined) continue;
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') env[name] = String(value);
    else r.problem(`${s.key}.${name}`, `must be a string, number or boolean; got ${show(value)}`);
  }
  return env;
}

/** All env_<name> sections are checked, not only the selected one, so a bad one shows before it is used. */
function readEnvSections(raw: Record<string, unknown>, at: string, r: Report): Map<string, Record<string, string>> {
  const sections = new Map<string, Record<string, string>>();
  for (const key of Object.keys(raw)) {
    if (!key.startsWith('env_') || raw[key] === undefined) continue;
    const env = readEnv({ key: join(at, key), value: raw[key] }, r);
    if (env) sections.set(key.slice('env_'.length), env);
  }
  return sections;
}

function readInterpreterSetting(s: Setting, r: Report): Draft['interpreter'] {
  const value = readString(s, r);
  return value === undefined || s === undefined ? null : { value, key: s.key };
}

function readMaxMemory(s: Setting, r: Report): number | null {
  if (s === undefined || s.value === null) return null;
  const bytes = parseSize(s.value);
  if (bytes === null || bytes <= 0) {
    r.problem(s.key, `must be a size in bytes or like '512M', '1G'; got ${show(s.value)}`);
    return null;
  }
  return bytes;
}

function readDuration(s: Setting, r: Report, min: number): number | undefined {
  if (s === undefined) return undefined;
  const ms = parseDuration(s.value);
  if (ms === null || ms < min) {
    const floor = min > 0 ? ` of at least ${min}ms` : '';
    r.problem(s.key, `must be a duration${floor} in ms or like '30s', '5m'; got ${show(s.value)}`);
    return undefined;
  }
  return ms;
}

function readBoolean(s: Setting, r: Report): boolean | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'boolean') return s.value;
  r.problem(s.key, `must be true or false; got ${show(s.value)}`);
  return undefined;
}

function readPositiveInt(s: Setting, r: Report): number | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'number' && Number.isInteger(s.value) && s.value >= 1) return s.value;
  r.problem(s.key, `must be a positive integer; got ${show(s.value)}`);
  return undefined;
}

function readPort(s: Setting, r: Report): number | null {
  if (s === undefined) return null;
  const n = typeof s.value === 'string' && /^\d+$/.test(s.value) ? Number(s.value) : s.value;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 65535) return n;
  r.problem(s.key, `must be a port number (0-65535); got ${show(s.value)}`);
  return null;
}

/** A herd-native nested object ({ backoff: {...} }), with unknown keys warned about. */
function readObject(s: Setting, known: readonly string[], r: Report): Record<string, unknown> | undefined {
  if (s === undefined) return undefined;
  if (!isRecord(s.value)) {
    r.problem(s.key, `must be an object with ${known.join(', ')}; got ${show(s.value)}`);
    return undefined;
  }
  checkNestedKeys(s.value, known, s.key, r);
  return s.value;
}

function sub(obj: Record<string, unknown> | undefined, key: string, at: string): Setting {
  return obj === undefined || obj[key] === undefined ? undefined : { key: `${at}.${key}`, value: obj[key] };
}

const PM2_EXP_BACKOFF_FACTOR = 1.5;

/**
 * PM2's restart_delay is a fixed delay and exp_backoff_restart_delay an
 * exponential one starting there (min_uptime belongs to the crash loop).
 * herd's own `backoff` object is applied last and wins field by field.
 */
function readBackoff(raw: Record<string, unknown>, at: string, r: Report): BackoffSpec {
  const b: { -readonly [K in keyof BackoffSpec]: BackoffSpec[K] } = { ...DEFAULTS.backoff };
  const exp = readDuration(pick(raw, 'expBackoffRestartDelay', at, r), r, 0);
  const fixedSetting = pick(raw, 'restartDelay', at, r);
  const fixed = readDuration(fixedSetting, r, 0);
  if (exp !== undefined) {
    // PM2 (God.js) grows the delay by 1.5x per restart, capped at 15s.
    Object.assign(b, { initial: exp, factor: PM2_EXP_BACKOFF_FACTOR, max: Math.max(exp, DEFAULTS.backoff.max) });
    if (fixedSetting !== undefined) r.warn(fixedSetting.key, "ignored: exp_backoff_restart_delay is set (PM2 does the same)");
  } else if (fixed !== undefined) {
    Object.assign(b, { initial: fixed, factor: 1, max: Math.max(fixed, DEFAULTS.backoff.max) });
  }
  const own = pick(raw, 'backoff', at, r);
  const obj = readObject(own, ['initial', 'max', 'factor', 'resetAfter'], r);
  if (own === undefined || obj === undefined) return b;
  b.initial = readDuration(sub(obj, 'initial', own.key), r, 0) ?? b.initial;
  b.max = readDuration(sub(obj, 'max', own.key), r, 0) ?? b.max;
  b.resetAfter = readDuration(sub(obj, 'resetAfter', own.key), r, 0) ?? b.resetAfter;
  const factor = sub(obj, 'factor', own.key);
  if (factor !== undefined) {
    if (typeof factor.value === 'number' && Number.isFinite(factor.value) && factor.value >= 1) b.factor = factor.value;
    else r.problem(factor.key, `must be a number >= 1 (1 = fixed delay); got ${show(factor.value)}`);
  }
  if (b.max < b.initial) r.problem(`${own.key}.max`, `must be at least initial (${b.initial}ms); got ${b.max}ms`);
  return b;
}

function readCrashLoop(raw: Record<string, unknown>, at: string, r: Report): CrashLoopSpec {
  const c: { -readonly [K in keyof CrashLoopSpec]: CrashLoopSpec[K] } = { ...DEFAULTS.crashLoop };
  c.maxCrashes = readPositiveInt(pick(raw, 'maxRestarts', at, r), r) ?? c.maxCrashes;
  c.minUptime = readDuration(pick(raw, 'minUptime', at, r), r, 0) ?? c.minUptime;
  const own = pick(raw, 'crashLoop', at, r);
  const obj = readObject(own, ['maxCrashes', 'minUptime', 'window', 'coolDown'], r);
  if (own === undefined || obj === undefined) return c;
  c.maxCrashes = readPositiveInt(sub(obj, 'maxCrashes', own.key), r) ?? c.maxCrashes;
  c.minUptime = readDuration(sub(obj, 'minUptime', own.key), r, 0) ?? c.minUptime;
  c.window = readDuration(sub(obj, 'window', own.key), r, 1) ?? c.window;
  c.coolDown = readDuration(sub(obj, 'coolDown', own.key), r, 0) ?? c.coolDown;
  return c;
}

function readReload(s: Setting, r: Report): ReloadSpec {
  const obj = readObject(s, ['parallel'], r);
  if (s === undefined || obj === undefined) return { ...DEFAULTS.reload };
  return { parallel: readPositiveInt(sub(obj, 'parallel', s.key), r) ?? DEFAULTS.reload.parallel };
}

function readLogs(s: Setting, r: Report): LogsSpec {
  const l: { -readonly [K in keyof LogsSpec]: LogsSpec[K] } = { ...DEFAULTS.logs };
  const obj = readObject(s, ['maxSize', 'retain', 'daily', 'gzip', 'maxLineLength'], r);
  if (s === undefined || obj === undefined) return l;
  const maxSize = sub(obj, 'maxSize', s.key);
  if (maxSize !== undefined) {
    const bytes = parseSize(maxSize.value);
    // Below 1KB a file would rotate on nearly every line.
    if (bytes === null || bytes < 1024) r.problem(maxSize.key, `must be a size of at least 1KB, like '10MB' or bytes; got ${show(maxSize.value)}`);
    else l.maxSize = bytes;
  }
  const retain = sub(obj, 'retain', s.key);
  if (retain !== undefined) {
    if (typeof retain.value === 'number' && Number.isInteger(retain.value) && retain.value >= 0) l.retain = retain.value;
    else r.problem(retain.key, `must be an integer >= 0 (rotated files kept); got ${show(retain.value)}`);
  }
  l.daily = readBoolean(sub(obj, 'daily', s.key), r) ?? l.daily;
  l.gzip = readBoolean(sub(obj, 'gzip', s.key), r) ?? l.gzip;
  const maxLine = sub(obj, 'maxLineLength', s.key);
  if (maxLine !== undefined) {
    const n = parseSize(maxLine.value);
    if (n === null || n < 80 || n > 16 * 1024 * 1024) r.problem(maxLine.key, `must be a length between 80 and 16MB characters; got ${show(maxLine.value)}`);
    else l.maxLineLength = n;
  }
  return l;
}

function readNonNegativeInt(s: Setting, r: Report): number | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'number' && Number.isInteger(s.value) && s.value >= 0) return s.value;
  r.problem(s.key, `must be an integer >= 0; got ${show(s.value)}`);
  return undefined;
}

function readPath(s: Setting, r: Report): string | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'string' && s.value.startsWith('/') && !/\s/.test(s.value)) return s.value;
  r.problem(s.key, `must be a path starting with '/' and without spaces; got ${show(s.value)}`);
  return undefined;
}

const OVERLOAD_KEYS = ['maxEventLoopDelay', 'maxEventLoopUtilization', 'maxInFlight', 'retryAfter', 'exempt'];

function readOverload(s: Setting, healthCheck: HealthCheckSpec | null, r: Report): OverloadSpec | null {
  const obj = readObject(s, OVERLOAD_KEYS, r);
  if (s === undefined || obj === undefined) return null;
  const delay = readDuration(sub(obj, 'maxEventLoopDelay', s.key), r, 1) ?? null;
  let utilization: number | null = null;
  const elu = sub(obj, 'maxEventLoopUtilization', s.key);
  if (elu !== undefined) {
    if (typeof elu.value === 'number' && elu.value > 0 && elu.value <= 1) utilization = elu.value;
    else r.problem(elu.key, `must be a number above 0 and at most 1 (a fraction of the time the loop is busy); got ${show(elu.value)}`);
  }
  const inFlight = readPositiveInt(sub(obj, 'maxInFlight', s.key), r) ?? null;
  const retryAfter = readDuration(sub(obj, 'retryAfter', s.key), r, 0) ?? DEFAULTS.overload.retryAfter;
  const exemptSetting = sub(obj, 'exempt', s.key);
  let exempt: string[] = [...DEFAULTS.overload.exempt];
  if (exemptSetting !== undefined) {
    if (Array.isArray(exemptSetting.value)) {
      exempt = exemptSetting.value.map((v, i) => readPath({ key: `${exemptSetting.key}[${i}]`, value: v }, r) ?? '');
    } else {
      r.problem(exemptSetting.key, `must be an array of paths; got ${show(exemptSetting.value)}`);
    }
  }
  if (healthCheck !== null && !exempt.includes(healthCheck.path)) exempt.push(healthCheck.path);
  if (delay === null && utilization === null && inFlight === null && !OVERLOAD_KEYS.slice(0, 3).some((k) => obj[k] !== undefined)) {
    r.problem(s.key, 'sets no limit: give maxEventLoopDelay, maxEventLoopUtilization or maxInFlight');
  }
  return { maxEventLoopDelay: delay, maxEventLoopUtilization: utilization, maxInFlight: inFlight, retryAfter, exempt: exempt.filter(Boolean) };
}

function readHealthCheck(s: Setting, r: Report): HealthCheckSpec | null {
  if (s !== undefined && typeof s.value === 'string') s = { key: s.key, value: { path: s.value } };
  const obj = readObject(s, ['path', 'interval', 'timeout', 'failures'], r);
  if (s === undefined || obj === undefined) return null;
  const pathSetting = sub(obj, 'path', s.key);
  if (pathSetting === undefined) r.problem(`${s.key}.path`, "is required (the path to request, e.g. '/health')");
  const check = {
    path: readPath(pathSetting, r) ?? '/',
    interval: readDuration(sub(obj, 'interval', s.key), r, 100) ?? DEFAULTS.healthCheck.interval,
    timeout: readDuration(sub(obj, 'timeout', s.key), r, 1) ?? DEFAULTS.healthCheck.timeout,
    failures: readPositiveInt(sub(obj, 'failures', s.key), r) ?? DEFAULTS.healthCheck.failures,
  };
  return check;
}

/** Top-level settings of the supervisor (besides `apps`). */
function readSettings(exported: unknown, r: Report): DaemonSettings {
  const prometheus = readPrometheus(exported, r);
  if (!isRecord(exported) || !('apps' in exported)) return { health: null, prometheus, alerts: null, dashboard: null };
  return {
    health: readHealthEndpoint(exported.health === undefined ? undefined : { key: 'health', value: exported.health }, r),
    prometheus,
    alerts: readAlerts(exported.alerts === undefined ? undefined : { key: 'alerts', value: exported.alerts }, r),
    dashboard: readDashboard(exported.dashboard === undefined ? undefined : { key: 'dashboard', value: exported.dashboard }, r),
  };
}

/** Top level `dashboard: { port, host, token }`. Every page needs the token, wherever it listens. */
function readDashboard(s: Setting, r: Report): DashboardSettings | null {
  const obj = readObject(s, ['port', 'host', 'token'], r);
  if (s === undefined || obj === undefined) return null;
  const token = readString(sub(obj, 'token', s.key), r) ?? null;
  if (token !== null && token.length < 16) r.problem(`${s.key}.token`, 'must be at least 16 characters (anyone who guesses it can reload and stop your apps)');
  return {
    port: readPort(sub(obj, 'port', s.key), r) ?? DEFAULTS.dashboard.port,
    host: readString(sub(obj, 'host', s.key), r) ?? DEFAULTS.dashboard.host,
    token,
  };
}

/** Top level `alerts: { webhook, rules: [{ app, metric, above, below, for, window }] }`. */
function readAlerts(s: Setting, r: Report): AlertsSettings | null {
  const obj = readObject(s, ['webhook', 'rules'], r);
  if (s === undefined || obj === undefined) return null;
  let webhook: string | null = null;
  const hook = sub(obj, 'webhook', s.key);
  if (hook !== undefined) {
    const url = typeof hook.value === 'string' ? safeUrl(hook.value) : null;
    if (url && (url.protocol === 'http:' || url.protocol === 'https:')) webhook = url.toString();
    else r.problem(hook.key, `must be an http:// or https:// URL; got ${show(hook.value)}`);
  }
  const rulesSetting = sub(obj, 'rules', s.key);
  if (rulesSetting === undefined || !Array.isArray(rulesSetting.value)) {
    r.problem(rulesSetting?.key ?? `${s.key}.rules`, `must be an array of rules like { app, metric, above, for }; got ${rulesSetting === undefined ? 'nothing' : show(rulesSetting.value)}`);
    return null;
  }
  const rules: AlertRule[] = [];
  rulesSetting.value.forEach((raw: unknown, i: number) => {
    const at = `${rulesSetting.key}[${i}]`;
    const rule = readObject({ key: at, value: raw }, ['app', 'metric', 'above', 'below', 'for', 'window'], r);
    if (rule === undefined) return;
    const metricSetting = sub(rule, 'metric', at);
    const metric = metricSetting?.value;
    if (!isAlertMetric(metric)) {
      r.problem(metricSetting?.key ?? `${at}.metric`, `must be one of ${Object.keys(ALERT_METRICS).join(', ')}; got ${metricSetting === undefined ? 'nothing' : show(metric)}`);
      return;
    }
    const threshold = (key: 'above' | 'below'): number | null => {
      const t = sub(rule, key, at);
      if (t === undefined) return null;
      const value = parseThreshold(metric, t.value);
      if (value === null) r.problem(t.key, `is not a threshold for ${metric} (in ${ALERT_METRICS[metric].unit}, e.g. ${THRESHOLD_EXAMPLES[ALERT_METRICS[metric].unit]}); got ${show(t.value)}`);
      return value;
    };
    const above = threshold('above');
    const below = threshold('below');
    if (rule.above === undefined && rule.below === undefined) r.problem(at, 'needs above or below');
    const app = sub(rule, 'app', at);
    const appName = app === undefined || app.value === '*' ? null : readString(app, r) ?? null;
    rules.push({
      app: appName,
      metric,
      above,
      below,
      for: readDuration(sub(rule, 'for', at), r, 0) ?? 0,
      window: readDuration(sub(rule, 'window', at), r, 1000) ?? DEFAULTS.alertWindow,
    });
  });
  return { webhook, rules };
}

const THRESHOLD_EXAMPLES: Record<string, string> = { ms: "'100ms'", bytes: "'512MB'", ratio: "'1%'", percent: "'80%'", count: '100' };

function safeUrl(text: string): URL | null {
  try {
    return new URL(text);
  } catch {
    return null;
  }
}

function readHealthEndpoint(s: Setting, r: Report): HealthEndpointSpec | null {
  const obj = readObject(s, ['port', 'host', 'shutdownDelay'], r);
  if (s === undefined || obj === undefined) return null;
  const portSetting = sub(obj, 'port', s.key);
  if (portSetting === undefined) r.problem(`${s.key}.port`, 'is required (the port of /ready and /live)');
  return {
    port: readPort(portSetting, r) ?? 0,
    host: readString(sub(obj, 'host', s.key), r) ?? DEFAULTS.health.host,
    shutdownDelay: readDuration(sub(obj, 'shutdownDelay', s.key), r, 0) ?? DEFAULTS.health.shutdownDelay,
  };
}

// ---------------------------------------------------------------------------
// From drafts to specs: selection, CLI overrides, --env, files on disk

function buildSpecs(drafts: Draft[], file: string, opts: LoadOptions, r: Report): AppSpec[] {
  checkDuplicateNames(drafts, r);
  const selected = selectApps(drafts, opts.only, r);
  checkSingleAppOverrides(selected, opts.overrides, r);
  if (opts.envName !== null && !selected.some((d) => d.envSections.has(opts.envName ?? ''))) {
    r.warn('--env', `no app has an env_${opts.envName} section; using env only`);
  }
  const specs: AppSpec[] = [];
  for (const draft of selected) {
    const spec = toSpec(draft, file, opts, r);
    if (spec) specs.push(spec);
  }
  return specs;
}

function checkDuplicateNames(drafts: Draft[], r: Report): void {
  const seen = new Map<string, Draft>();
  for (const d of drafts) {
    if (d.name === '') continue; // no script and no name: already a problem
    const first = seen.get(d.name);
    if (first) r.problem(d.nameKey, `duplicate app name "${d.name}" (also ${first.nameKey})`);
    else seen.set(d.name, d);
  }
}

/**
 * --only picks apps by name. Without it, apps with PM2's `autostart: false`
 * are left out: herd has no registered-but-stopped state, and starting them
 * would do the opposite of what the file asks.
 */
function selectApps(drafts: Draft[], only: readonly string[] | undefined, r: Report): Draft[] {
  if (only === undefined) {
    for (const d of drafts.filter((x) => !x.autostart)) r.warn(join(d.at, 'autostart'), `false: "${d.name}" not started (name it in --only to start it)`);
    return drafts.filter((d) => d.autostart);
  }
  const names = new Set(drafts.map((d) => d.name));
  for (const name of only) {
    if (!names.has(name)) r.problem('--only', `no app named "${name}" (apps: ${[...names].join(', ') || 'none'})`);
  }
  return drafts.filter((d) => only.includes(d.name));
}

function checkSingleAppOverrides(selected: Draft[], o: CliOverrides, r: Report): void {
  if (selected.length <= 1) return;
  const why = `applies to a single app, but ${selected.length} apps are selected (pick one with --only)`;
  if (o.name !== undefined) r.problem('--name', why);
  if (o.instances !== undefined) r.problem('-i', why);
}

function toSpec(d: Draft, file: string, opts: LoadOptions, r: Report): AppSpec | null {
  const before = r.problems.length;
  const name = opts.overrides.name ?? d.name;
  const nameProblem = opts.overrides.name === undefined ? null : checkName(name);
  if (nameProblem) r.problem('--name', nameProblem);
  const instances = cliInstances(opts, r) ?? resolveInstances(d.instances, opts.cpus);

  const script = path.resolve(d.cwd, d.script);
  if (d.script !== '' && !fs.existsSync(script)) r.problem(d.scriptKey, `file not found: ${script}`);
  if (!isDirectory(d.cwd)) r.problem(join(d.at, 'cwd'), `directory not found: ${d.cwd}`);
  const env = mergeEnv(d, opts);
  const interpreter = resolveInterpreter(d, env, opts, r);
  if (!d.ok || r.problems.length > before || interpreter === null) return null;

  return {
    name,
    script,
    args: opts.overrides.args ? [...opts.overrides.args] : d.args,
    cwd: d.cwd,
    instances,
    execMode: d.execMode,
    env,
    nodeArgs: d.nodeArgs,
    interpreter,
    runner: 'node',
    instanceVar: DEFAULTS.instanceVar,
    sticky: false,
    websocketDrain: d.websocketDrain,
    cronRestart: null,
    watch: null,
    logFiles: { out: null, err: null, combined: null },
    maxMemory: d.maxMemory,
    killTimeout: d.killTimeout,
    listenTimeout: d.listenTimeout,
    waitReady: d.waitReady,
    autorestart: d.autorestart,
    backoff: d.backoff,
    crashLoop: d.crashLoop,
    reload: d.reload,
    logs: d.logs,
    accessLog: d.accessLog,
    overload: d.overload,
    healthCheck: d.healthCheck,
    stallTimeout: d.stallTimeout,
    minReady: d.minReady,
    metrics: d.metrics,
    source: { configFile: file, envName: opts.envName, cliOverrides: copyOverrides(opts.overrides) },
  };
}

function cliInstances(opts: LoadOptions, r: Report): number | undefined {
  if (opts.overrides.instances === undefined) return undefined;
  const setting = parseInstances(opts.overrides.instances);
  if (setting === null) r.problem('-i', `${INSTANCES_RULE}; got ${show(opts.overrides.instances)}`);
  return setting === null ? undefined : resolveInstances(setting, opts.cpus);
}

/** PM2 semantics: env_<name> is merged over env; PM2 sets PORT from `port` last. */
function mergeEnv(d: Draft, opts: LoadOptions): Record<string, string> {
  const selected = opts.envName === null ? undefined : d.envSections.get(opts.envName);
  const env: Record<string, string> = { ...opts.env, ...d.env, ...selected };
  if (d.port !== null) env.PORT = String(d.port);
  return env;
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------
// Interpreter: herd runs Node.js only

const NODE_BINARY = /^node(js)?(-?v?\d[\w.-]*)?(\.exe)?$/i;
const TS_RUNNERS = /^(ts-node|tsx|ts-node-esm|ts-node-dev)(\.cmd|\.exe)?$/i;

/** The node binary for an app: `node` means the CLI's own; a path or another node name is looked up. */
function resolveInterpreter(d: Draft, env: Record<string, string>, opts: LoadOptions, r: Report): string | null {
  if (d.interpreter === null || d.interpreter.value === 'node') return opts.interpreter;
  const { value, key } = d.interpreter;
  const base = path.basename(value);
  if (!NODE_BINARY.test(base)) {
    r.problem(key, interpreterProblem(value, base));
    return null;
  }
  const found = /[/\\]/.test(value) ? path.resolve(d.cwd, value) : findOnPath(value, env.PATH ?? opts.env.PATH ?? '');
  if (found === null || !fs.existsSync(found)) {
    r.problem(key, `node binary not found: ${found ?? `${value} (not on PATH)`}`);
    return null;
  }
  return found;
}

function interpreterProblem(value: string, base: string): string {
  if (value === 'none') return "herd runs Node.js scripts only; 'none' (run a binary directly) is not supported";
  if (TS_RUNNERS.test(base)) {
    return `herd runs Node.js only; for TypeScript keep the node interpreter and set node_args: ['--import', 'tsx']; got ${show(value)}`;
  }
  return `herd runs Node.js only; must be 'node' or the path of a node binary; got ${show(value)}`;
}

function findOnPath(command: string, searchPath: string): string | null {
  for (const dir of searchPath.split(path.delimiter)) {
    if (dir === '') continue;
    const candidate = path.join(dir, command);
    if (fs.existsSync(candidate)) return candidate;
  }
  return null;
}

// ---------------------------------------------------------------------------

/** A copy, so freezing the spec does not freeze the caller's object. */
function copyOverrides(o: CliOverrides): CliOverrides {
  return {
    ...(o.name !== undefined ? { name: o.name } : {}),
    ...(o.instances !== undefined ? { instances: o.instances } : {}),
    ...(o.args !== undefined ? { args: [...o.args] } : {}),
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
