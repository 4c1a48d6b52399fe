/**
 * Turns a command-line target (a script or a config file) into validated,
 * frozen AppSpecs. Config files may use herd's camelCase keys or PM2's
 * snake_case ecosystem keys; every problem is collected with its path and
 * reported together, and nothing in a file is ignored without a warning.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HerdError } from '../errors';
import { parseDuration, parseSize } from '../util/units';
import { readFleet } from './fleet';
import { isLoopback } from '../util/loopback';
import { herdPaths, resolveHome } from '../util/paths';
import { ALERT_METRICS, isAlertMetric, parseThreshold } from '../alerts/alertMetrics';
import { copyOverrides, FLAGS, parseOverrides, SINGLE_APP, type ParsedOverrides } from './cliOverrides';
import { readCronRestart } from './cronRestart';
import { localZone, readJob } from './job';
import { queueAppProblems, readQueue } from './queue';
import { specProblemList } from './specCheck';
import { logFilesSpec, readLogFiles, type LogFilesDraft } from './logFiles';
import { isPm2Unsupported, PM2_UNSUPPORTED, unsupportedWarning } from './pm2Unsupported';
import { readConfigFile } from './readConfigFile';
import { readAccountSetting, runAsEnv, type AccountSetting } from './runAs';
import {
  INSTANCES_RULE,
  parseExecMode,
  parseInstances,
  readArgs,
  readBoolean,
  readDuration,
  readNonNegativeInt,
  readObject,
  readPort,
  readPositiveInt,
  readString,
  resolveInstances,
  sub,
  unknownKeyMessage,
  type InstancesSetting,
} from './readers';
import { isRecord, join, show, Report, type Setting } from './report';
import { appNameProblem as checkName } from './specCheck';
import { isDirectory, resolveRunner, type Runner } from './runner';
import { readWatch, watchSpec, type WatchDraft } from './watch';
import { readProfileOnStall } from './profileOnStall';
import { isScalingInstances, readScaling } from './scaling';
import { scalingProblem } from './scalingRules';
import {
  DEFAULTS,
  type AppSpec,
  type BackoffSpec,
  type CliOverrides,
  type ConfigProblem,
  type CrashLoopSpec,
  type LogsSpec,
  type HealthCheckSpec,
  type ProfileOnStallSpec,
  type HealthEndpointSpec,
  type JobSpec,
  type QueueSpec,
  type OverloadSpec,
  type AlertRule,
  type AlertsSettings,
  type DashboardSettings,
  type DaemonSettings,
  type PrometheusSettings,
  type ReloadSpec,
  type ScalingSpec,
} from './types';

export interface LoadOptions {
  /** The CLI's cwd: a script target resolves against it (a config file's apps resolve against the file's dir). */
  cwd: string;
  /** The CLI's environment at that moment, without undefined values. */
  env: Readonly<Record<string, string>>;
  /** `--env <name>`: merges each app's env_<name> over its env (PM2 semantics). */
  envName: string | null;
  /** --name, -i, --node-args, --watch, --max-memory-restart, --exec-mode and `-- app args`. */
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
/** PM2 reads any .json, .yml or .yaml file as an ecosystem file (lib/Common.js knonwConfigFileExtensions). */
const DATA_EXTENSIONS = new Set(['.json', '.json5', '.yml', '.yaml']);

/** True when `target` names a config file rather than a script to run. */
export function isConfigFile(target: string): boolean {
  const base = path.basename(target);
  return DATA_EXTENSIONS.has(path.extname(base).toLowerCase()) || CONFIG_BASENAME.test(base);
}

export async function loadTarget(target: string, opts: LoadOptions): Promise<LoadResult> {
  return isConfigFile(target) ? loadConfigFile(path.resolve(opts.cwd, target), opts) : loadScript(target, opts);
}

// ---------------------------------------------------------------------------
// Script targets

function loadScript(target: string, opts: LoadOptions): LoadResult {
  const { parsed: o, problems } = parseOverrides(opts.overrides);
  const [bad] = problems;
  if (bad) throw new HerdError('HERD_ERR_USAGE', { message: `${bad.path}: ${bad.message}` });
  const cwd = path.resolve(opts.cwd);
  const script = path.resolve(cwd, target);
  const run = resolveRunner({ script: target, cwd, interpreter: null, nodeBinary: opts.interpreter, searchPath: opts.env.PATH ?? '' });
  if (Array.isArray(run)) {
    if (!fs.existsSync(script)) throw new HerdError('HERD_ERR_SCRIPT_NOT_FOUND', { script });
    throw new HerdError('HERD_ERR_USAGE', { message: `${target}: ${run.map((p) => p.message).join('; ')}` });
  }
  const warnings: string[] = [];
  if (opts.envName !== null) warnings.push(`--env ${opts.envName}: a script has no env_${opts.envName} section; ignored`);
  if (opts.only !== undefined) warnings.push('--only: applies to config files only; ignored');

  const name = o.name ?? scriptBaseName(script);
  const nameProblem = checkName(name);
  if (nameProblem) {
    const flag = o.name === undefined ? `name "${name}" (from the script)` : '--name';
    throw new HerdError('HERD_ERR_USAGE', { message: `${flag}: ${nameProblem}; pick another with --name` });
  }
  const instances = o.instances === undefined ? 1 : resolveInstances(o.instances, opts.cpus);
  const fitted = fitRunner(run, {
    execMode: o.execMode ?? 'cluster',
    clusterAskedBy: o.execMode === 'cluster' ? FLAGS.execMode : null,
    instances,
    nodeArgs: o.nodeArgs ?? [],
    nodeArgsKey: FLAGS.nodeArgs,
    env: { ...opts.env },
  }, (at, message) => warnings.push(`${at}: ${message}`));
  const spec: AppSpec = {
    name,
    script: run.script,
    args: [...run.scriptArgs, ...(o.args ?? [])],
    cwd,
    instances,
    scaling: null,
    execMode: fitted.execMode,
    env: fitted.env,
    nodeArgs: fitted.nodeArgs,
    interpreter: run.interpreter,
    runner: run.runner,
    instanceVar: DEFAULTS.instanceVar,
    user: null,
    group: null,
    sticky: false,
    websocketDrain: DEFAULTS.websocketDrain,
    cronRestart: null,
    job: null,
    queue: null,
    watch: o.watch === true ? { paths: [cwd], ignore: [], delay: DEFAULTS.watchDelay } : null,
    logFiles: { out: null, err: null, combined: null },
    maxMemory: o.maxMemory ?? null,
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
    stallTimeout: run.runner === 'node' ? DEFAULTS.stallTimeout : 0,
    profileOnStall: null,
    minReady: DEFAULTS.minReady,
    metrics: true,
    source: { configFile: null, envName: opts.envName, cliOverrides: copyOverrides(opts.overrides) },
  };
  const [problem] = specProblemList(spec, 'spec');
  if (problem) {
    const where = problem.path === 'spec.instances' ? FLAGS.instances : problem.path.startsWith('spec.env.') ? `environment variable ${problem.path.slice(9)}` : problem.path.slice(5);
    throw new HerdError('HERD_ERR_USAGE', { message: `${where}: ${problem.message}` });
  }
  return { specs: [deepFreeze(spec)], warnings, settings: null };
}

function scriptBaseName(script: string): string {
  return path.basename(script, path.extname(script));
}

// ---------------------------------------------------------------------------
// Reading config files

async function loadConfigFile(file: string, opts: LoadOptions): Promise<LoadResult> {
  const display = (f: string) => displayPath(f, opts.cwd);
  const label = display(file);
  const { exported, warnings } = await readConfigFile(file, display);
  const r = new Report(label);
  r.warnings.push(...warnings);
  const drafts = readTopLevel(exported, path.dirname(file), opts.env.HOME ?? os.homedir(), r);
  const settings = readSettings(exported, path.dirname(file), opts.env, r);
  const built = buildSpecs(drafts, file, opts, r);
  // Each tick of a job runs on one host of the fleet: without it, on every host that has the job. A tick's
  // time is its identity across hosts, so every host must read the schedule in the same zone: UTC unless set.
  const specs = settings.fleet ? built.map((s) => (s.job ? { ...s, job: { ...s.job, fleet: true, timezone: s.job.timezone ?? 'UTC' } } : s)) : built;
  for (const s of built) {
    if (settings.fleet && s.job && s.job.timezone === null && localZone() !== 'UTC') {
      r.warn(s.name, `a fleet job without \`timezone\` runs in UTC on every host (this host's zone is ${localZone()}); set timezone: '${localZone()}' to read "${s.job.schedule}" in it`);
    }
  }
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

// ---------------------------------------------------------------------------
// Keys

/** Every accepted spelling of each setting; the first is herd's name and wins when several are given. */
const FIELD_KEYS = {
  name: ['name'],
  // PM2 (Common.verifyConfs) also reads cmd and command as the script.
  script: ['script', 'exec', 'cmd', 'command'],
  args: ['args'],
  cwd: ['cwd'],
  instances: ['instances'],
  autoscale: ['autoscale'],
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
  profileOnStall: ['profileOnStall'],
  minReady: ['minReady', 'min_ready'],
  metrics: ['metrics'],
  sticky: ['sticky'],
  maxRestarts: ['max_restarts'],
  minUptime: ['min_uptime'],
  restartDelay: ['restart_delay'],
  expBackoffRestartDelay: ['exp_backoff_restart_delay'],
  instanceVar: ['instanceVar', 'instance_var'],
  user: ['user', 'uid'],
  group: ['group', 'gid'],
  // PM2 reads `cron` as cron_restart; in herd it makes the app a job (docs/pm2.md#cron).
  cronRestart: ['cronRestart', 'cron_restart'],
  job: ['cron'],
  queue: ['queue'],
  timezone: ['timezone'],
  watch: ['watch'],
  ignoreWatch: ['ignore_watch'],
  watchDelay: ['watch_delay'],
  logFiles: ['logFiles'],
  outFile: ['out_file', 'out', 'output', 'out_log'],
  errorFile: ['error_file', 'error', 'err', 'err_file', 'err_log'],
  logFile: ['log_file', 'log'],
  mergeLogs: ['merge_logs', 'combine_logs'],
  appendEnvToName: ['append_env_to_name'],
  sourceMapSupport: ['source_map_support'],
} as const;

type Field = keyof typeof FIELD_KEYS;

const KNOWN_APP_KEYS: ReadonlySet<string> = new Set(Object.values(FIELD_KEYS).flat());

function camelToSnake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** Warn about every key that is not read, so nothing in a file is silently ignored. */
function checkKeys(raw: Record<string, unknown>, at: string, r: Report): void {
  for (const key of Object.keys(raw)) {
    if (KNOWN_APP_KEYS.has(key) || key.startsWith('env_')) continue;
    const pm2Key = isPm2Unsupported(key) ? key : camelToSnake(key);
    if (isPm2Unsupported(pm2Key)) {
      const warning = unsupportedWarning(pm2Key, raw[key]);
      if (warning !== null) r.warn(join(at, key), warning);
      continue;
    }
    r.warn(join(at, key), unknownKeyMessage(key, [...KNOWN_APP_KEYS, ...Object.keys(PM2_UNSUPPORTED)]));
  }
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

const TOP_LEVEL_KEYS = ['apps', 'deploy', 'health', 'metrics', 'alerts', 'dashboard', 'fleet'];

function readTopLevel(exported: unknown, baseDir: string, home: string, r: Report): Draft[] {
  if (Array.isArray(exported)) return readApps(exported, 'apps', baseDir, home, r);
  if (!isRecord(exported)) {
    r.problem('(file)', `must export { apps: [...] } or an array of apps; got ${show(exported)}`);
    return [];
  }
  if (!('apps' in exported) && 'script' in exported) {
    // PM2 also starts a JSON file that is a single app declaration.
    return [readApp(exported, '', baseDir, home, r)];
  }
  for (const key of Object.keys(exported)) {
    if (key === 'deploy') r.warn(key, 'herd does not deploy code (keep pm2 deploy or your CI for that); ignored');
    else if (!TOP_LEVEL_KEYS.includes(key)) r.warn(key, unknownKeyMessage(key, TOP_LEVEL_KEYS));
  }
  if (!Array.isArray(exported.apps)) {
    r.problem('apps', `must be an array of apps; got ${exported.apps === undefined ? 'nothing' : show(exported.apps)}`);
    return [];
  }
  return readApps(exported.apps, 'apps', baseDir, home, r);
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

function readApps(list: unknown[], at: string, baseDir: string, home: string, r: Report): Draft[] {
  if (list.length === 0) r.problem(at, 'lists no apps');
  const drafts: Draft[] = [];
  list.forEach((item, i) => {
    const itemAt = `${at}[${i}]`;
    if (!isRecord(item)) return r.problem(itemAt, `must be an object; got ${show(item)}`);
    drafts.push(readApp(item, itemAt, baseDir, home, r));
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
  /** The file sets `instances` (PM2's default for merge_logs depends on it). */
  instancesGiven: boolean;
  /** `instances: { min, max }` (+ `autoscale`): docs/autoscaling.md; null for a fixed count. */
  scaling: ScalingSpec | null;
  execMode: 'cluster' | 'fork';
  /** The key that asks for cluster mode, when one does (a non-Node runner is warned about it). */
  clusterKey: string | null;
  env: Record<string, string>;
  /** env_<name> sections by <name>. */
  envSections: Map<string, Record<string, string>>;
  nodeArgs: string[];
  nodeArgsKey: string | null;
  interpreter: { value: string; key: string } | null;
  instanceVar: string;
  user: AccountSetting | null;
  group: AccountSetting | null;
  cronRestart: string | null;
  job: JobSpec | null;
  /** Where `cron` was found, for messages about what a job cannot be. */
  jobKey: string | null;
  /** `queue`: a BullMQ consumer, run in fork mode (queue.ts). */
  queue: QueueSpec | null;
  watch: WatchDraft;
  logFiles: LogFilesDraft;
  /** PM2's append_env_to_name: `--env <e>` makes the name `<name>-<e>`. */
  appendEnvToName: boolean;
  /** PM2's source_map_support: true, as node's --enable-source-maps. */
  sourceMaps: { key: string } | null;
  /** Settings given that only herd's agent (in a Node.js worker) can honour. */
  agentOnly: string[];
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
  profileOnStall: ProfileOnStallSpec | null;
  minReady: number;
  metrics: boolean;
  sticky: boolean;
}

/** Reads every setting of one app, reporting each problem. */
function readApp(raw: Record<string, unknown>, at: string, baseDir: string, home: string, r: Report): Draft {
  const before = r.problems.length;
  checkKeys(raw, at, r);
  const get = (field: Field) => pick(raw, field, at, r);

  const scriptSetting = get('script');
  const script = readString(scriptSetting, r);
  if (scriptSetting === undefined) r.problem(join(at, 'script'), 'is required (the path of the entry script)');
  const cwdSetting = readString(get('cwd'), r);
  const nameSetting = get('name');
  const name = nameSetting === undefined ? nameFromScript(script, join(at, 'name'), r) : readName(nameSetting, r);
  const cwd = cwdSetting ? path.resolve(baseDir, cwdSetting) : baseDir;
  const instancesSetting = get('instances');
  const scaling = readScaling(instancesSetting, get('autoscale'), r);
  const execModeSetting = get('execMode');
  const nodeArgsSetting = get('nodeArgs');
  const sourceMapSetting = get('sourceMapSupport');
  const sourceMaps = readBoolean(sourceMapSetting, r) === true && sourceMapSetting ? { key: sourceMapSetting.key } : null;
  const agentOnly = (['waitReady', 'accessLog', 'healthCheck', 'overload', 'stallTimeout', 'profileOnStall'] as const)
    .map((f) => get(f))
    .filter((x): x is NonNullable<Setting> => x !== undefined && x.value !== false && x.value !== null && parseDuration(x.value) !== 0)
    .map((x) => x.key);

  const draft: Draft = {
    at,
    ok: true,
    name: name ?? '',
    nameKey: nameSetting?.key ?? join(at, 'script'),
    script: script ?? '',
    scriptKey: scriptSetting?.key ?? join(at, 'script'),
    args: readArgs(get('args'), r) ?? [],
    cwd,
    instances: scaling?.min ?? readInstances(isScalingInstances(instancesSetting) ? undefined : instancesSetting, r) ?? 1,
    instancesGiven: instancesSetting !== undefined,
    scaling: scaling ?? null,
    execMode: readExecMode(execModeSetting, r) ?? 'cluster',
    clusterKey: execModeSetting !== undefined && parseExecMode(execModeSetting.value) === 'cluster' ? execModeSetting.key : null,
    env: readEnv(get('env'), r) ?? {},
    envSections: readEnvSections(raw, at, r),
    nodeArgs: readArgs(nodeArgsSetting, r) ?? [],
    nodeArgsKey: nodeArgsSetting?.key ?? null,
    interpreter: readInterpreterSetting(get('interpreter'), r),
    instanceVar: readInstanceVar(get('instanceVar'), r) ?? DEFAULTS.instanceVar,
    user: readAccountSetting(get('user'), r),
    group: readAccountSetting(get('group'), r),
    cronRestart: readCronRestart(get('cronRestart'), r),
    job: null,
    jobKey: null,
    queue: readQueue(get('queue'), r),
    watch: readWatch({ watch: get('watch'), ignore: get('ignoreWatch'), delay: get('watchDelay') }, cwd, r),
    logFiles: readLogFiles({ own: get('logFiles'), out: get('outFile'), err: get('errorFile'), combined: get('logFile'), merge: get('mergeLogs') }, cwd, home, r),
    appendEnvToName: readBoolean(get('appendEnvToName'), r) ?? false,
    sourceMaps,
    agentOnly,
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
    profileOnStall: readProfileOnStall(get('profileOnStall'), r),
    minReady: readNonNegativeInt(get('minReady'), r) ?? DEFAULTS.minReady,
    metrics: readBoolean(get('metrics'), r) ?? DEFAULTS.metrics,
    sticky: readBoolean(get('sticky'), r) ?? false,
  };
  const stallSetting = get('profileOnStall');
  if (draft.profileOnStall !== null && !draft.metrics && stallSetting) {
    r.warn(stallSetting.key, 'never fires with metrics: false: the event-loop delay it watches comes with the metrics reports');
  }
  const cronSetting = get('job');
  draft.job = readJob(cronSetting, get('timezone'), r);
  draft.jobKey = cronSetting?.key ?? null;
  if (draft.job !== null && draft.cronRestart !== null) {
    r.problem(join(at, 'cron_restart'), "a job (`cron`) runs to completion at each tick and has no workers to reload; remove cron_restart (or cron, to keep a server reloaded on schedule)");
  }
  // The health-check path is never shed, whatever `overload.exempt` says.
  draft.overload = readOverload(get('overload'), draft.healthCheck, r);
  draft.ok = r.problems.length === before;
  return draft;
}

/** A name taken from the script file's name, as PM2 does; it must work as a name too. */
function nameFromScript(script: string | undefined, at: string, r: Report): string {
  if (!script) return '';
  const name = scriptBaseName(script);
  const problem = checkName(name);
  if (problem) r.problem(at, `${show(name)} (from the script): ${problem}; set name`);
  return name;
}

function readName(s: NonNullable<Setting>, r: Report): string | undefined {
  const name = readString(s, r);
  if (name === undefined) return undefined;
  const problem = checkName(name);
  if (problem) r.problem(s.key, problem);
  return problem ? undefined : name;
}

/**
 * Names become log file names (`<name>-out.<timestamp>.log` must stay under
 * NAME_MAX, 255 bytes) and CLI targets. Spaces, '@', ':' and dots are fine:
 * real ecosystem files use them.
 */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function readInstanceVar(s: Setting, r: Report): string | undefined {
  if (s === undefined) return undefined;
  if (typeof s.value === 'string' && ENV_NAME.test(s.value)) return s.value;
  r.problem(s.key, `must be an environment variable name (letters, digits and _, not starting with a digit); got ${show(s.value)}`);
  return undefined;
}

function readInstances(s: Setting, r: Report): InstancesSetting | undefined {
  if (s === undefined) return undefined;
  const setting = parseInstances(s.value);
  if (setting === null) r.problem(s.key, `${INSTANCES_RULE}; got ${show(s.value)}`);
  return setting ?? undefined;
}

function readExecMode(s: Setting, r: Report): 'cluster' | 'fork' | undefined {
  if (s === undefined) return undefined;
  const mode = parseExecMode(s.value);
  if (mode === null) r.problem(s.key, `must be 'cluster' or 'fork'; got ${show(s.value)}`);
  return mode ?? undefined;
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
    const text = envValue(value);
    if (text !== null) env[name] = text;
    else r.problem(`${s.key}.${name}`, `must be a string, number, boolean, or an object or array (passed as JSON); got ${show(value)}`);
  }
  return env;
}

/** PM2 (Common.mergeEnvironmentVariables) passes objects, arrays and null as JSON; the rest as strings. */
function envValue(value: unknown): string | null {
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (typeof value !== 'object') return null; // a function or a symbol
  try {
    return JSON.stringify(value) ?? null;
  } catch {
    return null; // circular
  }
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
function readSettings(exported: unknown, baseDir: string, env: Readonly<Record<string, string>>, r: Report): DaemonSettings {
  const prometheus = readPrometheus(exported, r);
  if (!isRecord(exported) || !('apps' in exported)) return { health: null, prometheus, alerts: null, dashboard: null };
  return {
    fleet: readFleet(exported.fleet === undefined ? undefined : { key: 'fleet', value: exported.fleet }, baseDir, env, r),
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
  const { parsed, problems } = parseOverrides(opts.overrides);
  for (const p of problems) r.problem(p.path, p.message);
  checkDuplicateNames(drafts, r);
  const selected = selectApps(drafts, opts, r);
  checkSingleAppOverrides(selected, opts.overrides, r);
  if (opts.envName !== null && !selected.some((d) => d.envSections.has(opts.envName ?? ''))) {
    r.warn('--env', `no app has an env_${opts.envName} section; using env only`);
  }
  const specs: AppSpec[] = [];
  for (const draft of selected) {
    const spec = toSpec(draft, file, opts, parsed, r);
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

/** The app's name as started: PM2's append_env_to_name adds `-<env>` with --env. */
function startedName(d: Draft, envName: string | null): string {
  return d.appendEnvToName && envName !== null ? `${d.name}-${envName}` : d.name;
}

/**
 * --only picks apps by name (the name in the file, or the started name with
 * append_env_to_name, which is what `herd reload` passes). Without it, apps
 * with PM2's `autostart: false` are left out: herd has no
 * registered-but-stopped state, and starting them would do the opposite of
 * what the file asks.
 */
function selectApps(drafts: Draft[], opts: LoadOptions, r: Report): Draft[] {
  const { only, envName } = opts;
  if (only === undefined) {
    for (const d of drafts.filter((x) => !x.autostart)) r.warn(join(d.at, 'autostart'), `false: "${d.name}" not started (name it in --only to start it)`);
    return drafts.filter((d) => d.autostart);
  }
  const picked = (d: Draft) => only.includes(d.name) || only.includes(startedName(d, envName));
  for (const name of only) {
    if (!drafts.some((d) => d.name === name || startedName(d, envName) === name)) {
      r.problem('--only', `no app named "${name}" (apps: ${drafts.map((d) => d.name).join(', ') || 'none'})`);
    }
  }
  return drafts.filter(picked);
}

function checkSingleAppOverrides(selected: Draft[], o: CliOverrides, r: Report): void {
  if (selected.length <= 1) return;
  const why = `applies to a single app, but ${selected.length} apps are selected (pick one with --only)`;
  for (const key of SINGLE_APP) if (o[key] !== undefined) r.problem(FLAGS[key], why);
}

/** Settings herd's agent carries out inside a Node.js worker; a worker without it cannot honour them. */
const AGENT_ONLY_MESSAGE = "needs herd's agent, which runs only in Node.js workers; ignored for";

function toSpec(d: Draft, file: string, opts: LoadOptions, o: ParsedOverrides, r: Report): AppSpec | null {
  const before = r.problems.length;
  const name = o.name ?? startedName(d, opts.envName);
  const nameProblem = o.name !== undefined || name !== d.name ? checkName(name) : null;
  if (nameProblem) r.problem(o.name !== undefined ? FLAGS.name : join(d.at, 'append_env_to_name'), nameProblem);
  const instances = resolveInstances(o.instances ?? d.instances, opts.cpus);

  if (!isDirectory(d.cwd)) r.problem(join(d.at, 'cwd'), `directory not found: ${d.cwd}`);
  const userEnv = runAsEnv(d.user, d.group, r);
  const merged = mergeEnv(d, opts, userEnv ?? {});
  const run = d.script === '' ? null : resolveRunner({
    script: d.script,
    cwd: d.cwd,
    interpreter: d.interpreter?.value ?? null,
    nodeBinary: opts.interpreter,
    searchPath: merged.PATH ?? opts.env.PATH ?? '',
  });
  if (Array.isArray(run)) for (const p of run) r.problem(p.on === 'interpreter' ? d.interpreter?.key ?? d.scriptKey : d.scriptKey, p.message);
  if (!d.ok || r.problems.length > before || run === null || Array.isArray(run)) return null;

  const warn = (at: string, message: string) => r.warn(at, message);
  let nodeArgs = o.nodeArgs ?? d.nodeArgs;
  if (d.sourceMaps !== null) {
    if (run.runner !== 'node') warn(d.sourceMaps.key, `turns on a Node.js option, and ${run.label} is not Node.js; ignored`);
    else if (!nodeArgs.includes('--enable-source-maps')) nodeArgs = [...nodeArgs, '--enable-source-maps'];
  }
  const fitted = fitRunner(run, {
    execMode: o.execMode ?? d.execMode,
    clusterAskedBy: o.execMode !== undefined ? (o.execMode === 'cluster' ? FLAGS.execMode : null) : d.clusterKey,
    instances,
    nodeArgs,
    nodeArgsKey: o.nodeArgs !== undefined ? FLAGS.nodeArgs : d.nodeArgsKey,
    env: merged,
  }, warn);
  if (d.job !== null && !jobFits(d, instances, o, r)) return null;
  if (d.queue !== null && !queueFits(d, o, r)) return null;
  // `-i N` asks for a fixed count: it replaces the file's { min, max }.
  const scaling = o.instances !== undefined ? null : d.scaling;
  const scalingIssue = scaling === null ? null
    : scalingProblem(scaling, { execMode: d.queue !== null ? 'fork' : fitted.execMode, job: d.job !== null, queue: d.queue !== null });
  if (scalingIssue !== null) {
    r.problem(join(d.at, d.job !== null ? 'instances' : 'autoscale.metric'), scalingIssue);
    return null;
  }
  if (d.sticky && fitted.execMode === 'fork') {
    r.problem(join(d.at, 'sticky'), "needs execMode 'cluster': in fork mode each worker listens on its own socket, " +
      'so there is nothing to route (use cluster mode, or balance by client address at a proxy; see docs/sticky.md)');
    return null;
  }
  const agent = run.runner === 'node';
  if (!agent) for (const key of d.agentOnly) warn(key, `${AGENT_ONLY_MESSAGE} ${run.label}`);
  const args = o.args ?? d.args;
  if (run.viaShell && args.length > 0) warn(join(d.at, 'args'), `the script runs through ${run.label} -c, which would not pass them on (put them in the script); ignored`);
  const logFiles = logFilesSpec(d.logFiles, {
    name,
    logDir: herdPaths(resolveHome({ ...opts.env }), { ...opts.env }).logs,
    instances,
    // PM2 (Common.verifyConfs) merges by default only without exec_mode cluster and with no (or 0) instances.
    pm2MergesByDefault: d.clusterKey === null && (!d.instancesGiven || d.instances === 'max'),
    cluster: d.clusterKey !== null,
  }, r);

  return finalCheck({
    name,
    script: run.script,
    args: run.viaShell ? run.scriptArgs : [...run.scriptArgs, ...args],
    cwd: d.cwd,
    instances,
    scaling,
    execMode: d.job !== null || d.queue !== null ? 'fork' : fitted.execMode,
    env: fitted.env,
    nodeArgs: fitted.nodeArgs,
    interpreter: run.interpreter,
    runner: run.runner,
    instanceVar: d.instanceVar,
    user: d.user?.value ?? null,
    group: d.group?.value ?? null,
    sticky: d.sticky,
    websocketDrain: d.websocketDrain,
    cronRestart: d.cronRestart,
    job: d.job,
    queue: d.queue,
    watch: watchSpec(d.watch, d.cwd, o.watch),
    logFiles,
    maxMemory: o.maxMemory ?? d.maxMemory,
    killTimeout: d.killTimeout,
    listenTimeout: d.listenTimeout,
    waitReady: agent && d.waitReady,
    autorestart: d.autorestart,
    backoff: d.backoff,
    crashLoop: d.crashLoop,
    reload: d.reload,
    logs: d.logs,
    accessLog: agent && d.accessLog,
    overload: agent ? d.overload : null,
    healthCheck: agent ? d.healthCheck : null,
    // The stall watchdog's ping is answered by the agent; without it every worker would look stalled.
    stallTimeout: agent ? d.stallTimeout : 0,
    // Profiles are read through the inspector the agent's flags make openable.
    profileOnStall: agent ? d.profileOnStall : null,
    minReady: d.minReady,
    metrics: d.metrics,
    source: { configFile: file, envName: opts.envName, cliOverrides: copyOverrides(opts.overrides) },
  }, d.at, o.instances !== undefined ? FLAGS.instances : join(d.at, 'instances'), r);
}

/**
 * A job is one process in fork mode: it runs to completion at each tick, so
 * there is nothing to spread over workers or share a port between.
 */
function jobFits(d: Draft, instances: number, o: ParsedOverrides, r: Report): boolean {
  const pm2 = "for PM2's restart on a schedule of a server, use cron_restart instead of cron";
  let ok = true;
  if (instances > 1) {
    r.problem(o.instances !== undefined ? FLAGS.instances : join(d.at, 'instances'), `a job (${d.jobKey ?? 'cron'}) runs one process at each tick; got ${instances} (${pm2})`);
    ok = false;
  }
  const cluster = o.execMode === 'cluster' ? FLAGS.execMode : o.execMode === undefined ? d.clusterKey : null;
  if (cluster !== null) {
    r.problem(cluster, `a job (${d.jobKey ?? 'cron'}) runs in fork mode, one process at each tick; remove cluster mode (${pm2})`);
    ok = false;
  }
  return ok;
}

/** A queue app's workers are plain processes that take jobs: fork mode, never a job of its own (the rule is queueAppProblems', shared with the daemon's spec check). */
function queueFits(d: Draft, o: ParsedOverrides, r: Report): boolean {
  const cluster = o.execMode === 'cluster' ? FLAGS.execMode : o.execMode === undefined ? d.clusterKey : null;
  const problems = queueAppProblems({ execMode: cluster !== null ? 'cluster' : 'fork', job: d.job });
  // Said at the key that asks for cluster mode; a cron beside queue, at queue.
  for (const p of problems) r.problem(p.field === 'execMode' ? cluster ?? join(d.at, 'exec_mode') : join(d.at, 'queue'), p.message);
  return problems.length === 0;
}

/**
 * The same check the daemon makes of every spec it receives (limits on
 * instances, the environment's size for exec()), reported here in the
 * file's terms; a spec with a problem is not started.
 */
function finalCheck(spec: AppSpec, at: string, instancesKey: string, r: Report): AppSpec | null {
  const problems = specProblemList(spec, at);
  for (const p of problems) r.problem(p.path === `${at}.instances` ? instancesKey : p.path, p.message);
  return problems.length > 0 ? null : spec;
}

/**
 * PM2 semantics: env_<name> is merged over env; PM2 sets PORT from `port`
 * last. The variables of the app's `user` replace the shell's (systemd's
 * `User=` sets them), below the app's own `env`.
 */
function mergeEnv(d: Draft, opts: LoadOptions, userEnv: Record<string, string>): Record<string, string> {
  const selected = opts.envName === null ? undefined : d.envSections.get(opts.envName);
  const env: Record<string, string> = { ...opts.env, ...userEnv, ...d.env, ...selected };
  if (d.port !== null) env.PORT = String(d.port);
  return env;
}

// ---------------------------------------------------------------------------
// Runners without the agent: fork mode, their own arguments

interface RunnerFit {
  execMode: 'cluster' | 'fork';
  /** The key or flag that asks for cluster mode, if one does. */
  clusterAskedBy: string | null;
  instances: number;
  nodeArgs: string[];
  nodeArgsKey: string | null;
  env: Record<string, string>;
}

/**
 * A worker that is not Node.js cannot join Node's cluster, so it runs in fork
 * mode (PM2 does the same); asking for cluster mode is warned about. Its
 * interpreter gets nodeArgs as its own arguments; a command without an
 * interpreter gets none.
 */
function fitRunner(run: Runner, f: RunnerFit, warn: (at: string, message: string) => void): Pick<AppSpec, 'execMode' | 'nodeArgs' | 'env'> {
  if (run.runner === 'node') return { execMode: f.execMode, nodeArgs: f.nodeArgs, env: f.env };
  if (f.execMode === 'cluster' && f.clusterAskedBy !== null) {
    const processes = f.instances > 1 ? `: ${f.instances} separate processes` : '';
    warn(f.clusterAskedBy, `cluster mode needs a Node.js script (its workers share the port through Node's cluster module); ${run.label} runs in fork mode${processes}`);
  }
  let nodeArgs = f.nodeArgs;
  if (run.interpreter === '' && nodeArgs.length > 0) {
    if (f.nodeArgsKey !== null) warn(f.nodeArgsKey, `${run.label} runs without an interpreter, so there is nothing to pass them to; ignored`);
    nodeArgs = [];
  }
  const env = { ...f.env };
  // As PM2 does: Python block-buffers a pipe, so its lines would reach the log late, or be lost on a kill.
  if (/python/i.test(path.basename(run.interpreter)) && env.PYTHONUNBUFFERED === undefined) env.PYTHONUNBUFFERED = '1';
  return { execMode: 'fork', nodeArgs, env };
}

// ---------------------------------------------------------------------------

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
