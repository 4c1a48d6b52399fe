/**
 * The systemd unit `herd startup` writes: the daemon of one user's
 * HERD_HOME started at boot, its saved apps brought back, and what crash
 * survival needs under systemd. Pure: inputs in, unit text out.
 */
export interface UnitInputs {
  /** The account the daemon and its apps run as (User=). */
  user: string;
  /** The daemon's state directory (Environment=HERD_HOME, PIDFile=). */
  herdHome: string;
  /** HERD_LOG_DIR to give the daemon, or null for $HERD_HOME/logs. */
  logDir: string | null;
  /** Absolute path of the node binary that runs herd. */
  node: string;
  /** Absolute path of herd's CLI entry (dist/cli/main.js). */
  cli: string;
  /** PATH for the daemon and its apps; the node binary's directory first. */
  path: string;
  /** Seconds systemd waits for `herd kill` to drain every app (TimeoutStopSec=). */
  stopTimeoutSec: number;
  /** A file:// URL of herd's systemd page, or null. */
  documentation: string | null;
}

/** `herd-<user>.service`, as PM2 names its unit `pm2-<user>.service`. */
export function unitName(user: string): string {
  return `herd-${user}.service`;
}

/**
 * Seconds systemd gives `herd kill` before it gives up on the drain: the
 * drain takes `health.shutdownDelay` (5 s) and then the apps' `killTimeout`
 * (5 s by default, all apps at once), so 120 s covers an app whose
 * killTimeout is up to about 100 s. A longer one needs
 * `systemctl edit herd-<user>` (docs/systemd.md).
 */
export const DEFAULT_STOP_TIMEOUT_SEC = 120;

const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** PATH for the unit: the node binary's directory (apps with `#!/usr/bin/env node` or `script: 'npm'` need it), then the system's. */
export function servicePath(nodeDir: string): string {
  return [nodeDir, ...SYSTEM_PATH.filter((d) => d !== nodeDir)].join(':');
}

export function renderUnit(u: UnitInputs): string {
  const herd = (...args: string[]) => [u.node, u.cli, ...args].map(execArg).join(' ');
  const env = [`HERD_HOME=${u.herdHome}`, ...(u.logDir === null ? [] : [`HERD_LOG_DIR=${u.logDir}`]), `PATH=${u.path}`];
  const lines = [
    '# Written by `herd startup`; `herd unstartup` removes it. To change a setting,',
    `# use \`systemctl edit ${unitName(u.user)}\`: a drop-in outlives \`herd startup\` run again.`,
    '[Unit]',
    `Description=herd: the Node.js apps of ${u.user} (HERD_HOME=${specifiers(u.herdHome)})`,
    ...(u.documentation === null ? [] : [`Documentation=${specifiers(u.documentation)}`]),
    '# Apps often connect to other hosts (a database) as soon as they start.',
    'Wants=network-online.target',
    'After=network-online.target',
    '# Never stop restarting the daemon (by default systemd gives up after 5 starts in 10 s).',
    'StartLimitIntervalSec=0',
    '',
    '[Service]',
    '# `herd daemon` starts the daemon in the background and returns once its control',
    '# socket answers; systemd then follows the daemon by its pid file.',
    'Type=forking',
    `User=${plain(u.user, 'user name')}`,
    ...env.map((e) => `Environment=${envAssignment(e)}`),
    `PIDFile=${specifiers(`${u.herdHome}/daemon.pid`)}`,
    `ExecStart=${herd('daemon')}`,
    '# The apps saved with `herd save`. "-": a failure here leaves the daemon running',
    '# (an app that cannot start is listed as errored and retried after its cool-down).',
    `ExecStartPost=-${herd('resurrect')}`,
    `ExecReload=${herd('reload', 'all')}`,
    '# Drains every app, on a stop only: systemd runs ExecStop also after the daemon',
    '# died on its own, with $MAINPID unset, and then the apps must keep running.',
    `ExecStop=/bin/sh -c ${shellScript('test -z "$MAINPID" || exec "$0" "$1" kill')} ${execArg(u.node)} ${execArg(u.cli)}`,
    '# Longer than the drain (health.shutdownDelay, then the apps\' killTimeout), or',
    '# systemd cuts it short.',
    `TimeoutStopSec=${u.stopTimeoutSec}`,
    '# Signal only the daemon on stop and restart. The default, control-group, kills',
    '# every worker with the daemon: a crashed daemon would take its apps down.',
    'KillMode=process',
    '# A worker killed by the OOM killer is herd\'s to replace; systemd\'s default',
    '# (DefaultOOMPolicy=stop) would stop the whole service, every app with it.',
    'OOMPolicy=continue',
    'Restart=always',
    'RestartSec=2',
    '# A connection is a file descriptor; the default soft limit is 1024.',
    'LimitNOFILE=1048576',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}

/** A value systemd reads verbatim but for `%` specifiers. */
function specifiers(value: string): string {
  noNewline(value);
  return value.replace(/%/g, '%%');
}

/** A user name goes in as it is; anything systemd would read otherwise is refused. */
function plain(value: string, what: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(value)) throw new Error(`${what} "${value}" cannot be written in a unit file`);
  return value;
}

/**
 * One word of an Exec line: `%` and `$` doubled (systemd expands specifiers
 * and variables there), quoted when it holds blanks, quotes or backslashes.
 */
function execArg(value: string): string {
  noNewline(value);
  const escaped = value.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./$-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A script for `/bin/sh -c` in single quotes, its `$` doubled so that the
 * shell, not systemd, reads the variables. The script is herd's own: no
 * quote or backslash in it.
 */
function shellScript(script: string): string {
  if (/['\\\n]/.test(script)) throw new Error(`not a script for a unit file: ${script}`);
  return `'${script.replace(/%/g, '%%').replace(/\$/g, '$$$$')}'`;
}

/** `Environment=` takes `NAME=value`, quoted whole when the value has blanks or quotes; no `$` expansion there. */
function envAssignment(assignment: string): string {
  noNewline(assignment);
  const escaped = assignment.replace(/%/g, '%%');
  if (/^[^\s"'\\]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

function noNewline(value: string): void {
  if (/[\n\r]/.test(value)) throw new Error(`a line break cannot be written in a unit file: ${JSON.stringify(value)}`);
}
