/**
 * PM2 ecosystem attributes (lib/API/schema.json and their aliases) that herd
 * has no equivalent for. Each is warned about with the reason, so nothing in
 * a file is dropped silently; a value that asks for what herd does anyway
 * (usually `false`: the feature off) gives no warning.
 */

interface Unsupported {
  /** What herd does instead; the warning reads `<reason>; ignored`. */
  readonly reason: string;
  /** True for values that ask for nothing herd does not do. Default: `false`. */
  readonly neutral?: (value: unknown) => boolean;
}

const PM2_IO = 'PM2.io monitoring; herd measures with its own agent (herd metrics, herd monit)';
const always = () => true;
const never = () => false;

export const PM2_UNSUPPORTED: Readonly<Record<string, Unsupported>> = {
  name_prefix: { reason: 'herd names each app exactly by its name' },
  filter_env: { reason: "herd gives workers the CLI's environment plus env; filter it in the shell (env -u NAME herd start ...)" },
  namespace: { reason: 'herd has no namespaces; app names are unique per daemon (HERD_HOME)', neutral: (v) => v === false || v === 'default' },
  install_url: { reason: 'PM2 module installs have no herd equivalent' },
  pid_file: { reason: "herd writes no pid files; `herd list --json` shows each worker's pid" },
  pid: { reason: "herd writes no pid files; `herd list --json` shows each worker's pid" },
  disable_source_map_support: { reason: 'herd enables source maps only when asked', neutral: always },
  shutdown_with_message: { reason: "herd drains a worker through its agent and then signals it; it sends no 'shutdown' message" },
  vizion: { reason: 'herd reads no git metadata' },
  stop_exit_codes: { reason: 'herd restarts a worker that exits whatever its exit code (autorestart: false never restarts)' },
  execute_command: { reason: 'a PM2 internal setting' },
  force: { reason: 'herd skips an app that is already running; use herd restart or herd reload' },
  post_update: { reason: 'herd runs no commands after a pull (a PM2.io feature)' },
  trace: { reason: PM2_IO },
  disable_trace: { reason: PM2_IO, neutral: (v) => v === true },
  v8: { reason: PM2_IO },
  event_loop_inspector: { reason: PM2_IO },
  deep_monitoring: { reason: PM2_IO },
  pmx: { reason: PM2_IO },
  automation: { reason: PM2_IO },
  io: { reason: PM2_IO },
  increment_var: { reason: 'herd sets no per-worker counter besides instance_var (in cluster mode the workers share one port)' },
  treekill: { reason: 'herd stops a worker its own way (drain, then a signal, SIGKILL after killTimeout)', neutral: never },
  username: { reason: 'PM2 records here who started the app and runs nothing as that user; to run the workers as another user, set user (PM2: uid)' },
  windowsHide: { reason: 'a Windows-only setting', neutral: always },
  kill_retry_time: { reason: 'herd sends SIGKILL once, killTimeout after asking a worker to stop' },
  write: { reason: 'a PM2 internal setting' },
  log_date_format: { reason: 'herd stamps every line with an ISO-8601 UTC time (2024-05-01T12:00:00.000Z); the format is not configurable', neutral: never },
  time: { reason: "herd's log lines always start with an ISO-8601 UTC time", neutral: (v) => v === true },
  log_type: { reason: "herd's log files have one format (`herd logs --json` prints JSON lines)" },
  disable_logs: { reason: "herd always keeps an app's log files, rotated by logs.maxSize and logs.retain" },
  watch_options: { reason: "herd's watcher takes no chokidar options (only watch, ignore_watch and watch_delay)" },
};

/** The warning for an unsupported key, or null when its value asks for nothing herd does not do. */
export function unsupportedWarning(key: string, value: unknown): string | null {
  const entry = PM2_UNSUPPORTED[key];
  if (entry === undefined) return null;
  const neutral = entry.neutral ?? ((v: unknown) => v === false);
  return neutral(value) ? null : `${entry.reason}; ignored`;
}

export function isPm2Unsupported(key: string): boolean {
  return Object.prototype.hasOwnProperty.call(PM2_UNSUPPORTED, key);
}
