/**
 * One registry of every error herd reports. Each code has a message template;
 * docs/errors.md lists them all (a test keeps the two in step).
 */
export const ERROR_CODES = {
  HERD_ERR_CONFIG_INVALID: 'invalid configuration in {file}',
  HERD_ERR_CONFIG_NOT_FOUND: 'cannot read {file}: {reason}',
  HERD_ERR_SCRIPT_NOT_FOUND: 'script not found: {script}',
  HERD_ERR_USAGE: '{message}',
  HERD_ERR_APP_NOT_FOUND: 'no app named "{name}"',
  HERD_ERR_WORKER_NOT_FOUND: 'app "{name}" has no worker {worker}',
  HERD_ERR_NOT_RUNNING: '{name} has no running worker to {action}',
  HERD_ERR_METRICS_LISTEN: 'cannot serve Prometheus metrics on {address}: {reason}',
  HERD_ERR_DASHBOARD_LISTEN: 'cannot serve the dashboard on {address}: {reason}',
  HERD_ERR_NOT_A_TERMINAL: '{command} needs a terminal; use `herd metrics <name> --json` in scripts',
  HERD_ERR_CAPACITY: 'cannot run "{name}": {reason}',
  HERD_ERR_RELOAD_FAILED: 'reload of "{name}" aborted: {reason}',
  HERD_ERR_START_FAILED: 'app "{name}" did not start: {reason}',
  HERD_ERR_PROTOCOL_VERSION: 'the daemon speaks protocol {daemon}, this CLI speaks {cli}',
  HERD_ERR_DAEMON_UNREACHABLE: 'cannot reach the herd daemon at {socket}: {reason}',
  HERD_ERR_DAEMON_START: 'the herd daemon did not start: {reason}',
  HERD_ERR_DAEMON_RUNNING: 'a herd supervisor is already running for {home}',
  HERD_ERR_FLEET_OFF: 'this host has joined no fleet',
  HERD_ERR_FLEET_COMMAND: 'fleet command refused: {reason}',
  HERD_ERR_FLEET_UNSEEN: 'the fleet registry {url} cannot be read: {reason}; this host keeps serving on its own',
  HERD_ERR_HAPROXY_UNREACHABLE: 'cannot reach the HAProxy runtime API at {address}: {reason}',
  HERD_ERR_HAPROXY_COMMAND: 'HAProxy at {address} refused `{command}`: {answer}',
  HERD_ERR_HAPROXY_BACKEND: 'HAProxy at {address} has no backend "{backend}"',
  HERD_ERR_HAPROXY_BUSY: 'HAProxy at {address}: server {server} still has {sessions} session(s), it cannot be deleted yet',
  HERD_ERR_LB_NO_APP: 'no host of the fleet registry {url} runs an app named "{app}"',
  HERD_ERR_LB_NO_HOSTS: 'no host of the fleet serves "{app}" on a TCP port now',
  HERD_ERR_LB_STATIC: '--static {dir}: {reason}',
  HERD_ERR_UPDATING: 'the daemon is being replaced (herd update): {reason}',
  HERD_ERR_UPDATE_FAILED: 'herd update failed, the running daemon (pid {pid}) stays: {reason}',
  HERD_ERR_DAEMON_DIED: 'the herd daemon (pid {pid}) is gone: {reason}',
  HERD_ERR_SHIM_START: 'the shim of app {name} did not start: {reason}',
  HERD_ERR_SHIM_UNREACHABLE: 'the shim of app {name} (pid {pid}) cannot be reached: {reason}',
  HERD_ERR_SHIM_BUSY: 'this shim is driven by another daemon (pid {pid}); connect with takeover to replace it',
  HERD_ERR_SHIM_PROTOCOL: 'the shim refused the connection: {reason}',
  HERD_ERR_PERMISSION: 'cannot use HERD_HOME {path}: {reason}',
  HERD_ERR_BAD_REQUEST: 'bad request: {reason}',
  HERD_ERR_HEALTH_LISTEN: 'cannot listen on {address} for /ready and /live: {reason}',
  HERD_ERR_CRON_INVALID: 'app "{name}": cron_restart "{schedule}" is not a cron schedule: {reason}',
  HERD_ERR_LOG_DIR_UNSAFE: 'refusing to write logs in {dir}: {reason}',
  HERD_ERR_LOG_FILE: 'app "{name}": {field} {path}: {reason}',
  HERD_ERR_STARTUP_ROOT: 'writing {path} needs root',
  HERD_ERR_SYSTEMCTL: '`systemctl {command}` failed: {reason}',
  HERD_ERR_USER: 'app "{name}": {field} "{value}": {reason}',
  HERD_ERR_DUMP_INVALID: 'cannot resurrect from {file}: {reason}',
  HERD_ERR_DUMP_EMPTY: 'not saved to {file}: no app is listed',
  HERD_ERR_DUMP_NOT_FOUND: 'nothing to resurrect: there is no dump at {file}',
  HERD_ERR_STATE_INVALID: "herd's app list {file} cannot be used: {reason}",
  HERD_ERR_BENCH_TARGET: 'cannot bench "{name}": {reason}',
  HERD_ERR_INTERNAL: 'internal error: {reason}',
  HERD_ERR_HEAP_MEMORY: 'not enough free memory for a heap snapshot of {name}[{worker}]: it needs about {needed} ({basis}), {available} is available',
  HERD_ERR_HEAP_SNAPSHOT: 'heap snapshot of {name}[{worker}] failed: {reason}',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** What travels over the control socket: plain data, no prototype. */
export interface ErrorData {
  code: ErrorCode;
  message: string;
  /** Extra lines shown under the message (validation problems, stderr tail). */
  details?: string[];
}

export class HerdError extends Error {
  readonly code: ErrorCode;
  readonly details: string[];

  constructor(code: ErrorCode, params: Record<string, string | number> = {}, details: string[] = []) {
    super(format(ERROR_CODES[code], params));
    this.name = 'HerdError';
    this.code = code;
    this.details = details;
  }

  toData(): ErrorData {
    return this.details.length > 0
      ? { code: this.code, message: this.message, details: this.details }
      : { code: this.code, message: this.message };
  }

  static fromData(data: ErrorData): HerdError {
    const err = new HerdError(data.code in ERROR_CODES ? data.code : 'HERD_ERR_INTERNAL', {}, data.details ?? []);
    err.message = data.message;
    return err;
  }
}

export function toErrorData(err: unknown): ErrorData {
  if (err instanceof HerdError) return err.toData();
  const reason = err instanceof Error ? err.message : String(err);
  return new HerdError('HERD_ERR_INTERNAL', { reason }).toData();
}

function format(template: string, params: Record<string, string | number>): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) =>
    Object.prototype.hasOwnProperty.call(params, key) ? String(params[key]) : whole,
  );
}
