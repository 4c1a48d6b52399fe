import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { HerdError } from '../errors';

/** Where units written by the administrator go (systemd.unit(5)); they override packaged ones. */
export const UNIT_DIR = '/etc/systemd/system';

export function unitFile(name: string): string {
  return path.join(UNIT_DIR, name);
}

/**
 * Whether systemd manages this machine: sd_booted(3) checks for this
 * directory, which systemd creates at boot. A container or a chroot
 * usually has systemctl installed without systemd running.
 */
export function systemdRunning(): boolean {
  try {
    return fs.statSync('/run/systemd/system').isDirectory();
  } catch {
    return false;
  }
}

/** Run `systemctl args...`; a failure is an error that says what it ran and what systemctl said. */
export function systemctl(args: readonly string[]): void {
  const r = spawnSync('systemctl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.error !== undefined) throw new HerdError('HERD_ERR_SYSTEMCTL', { command: args.join(' '), reason: r.error.message });
  if (r.status !== 0) {
    const said = `${r.stderr}${r.stdout}`.trim();
    throw new HerdError('HERD_ERR_SYSTEMCTL', { command: args.join(' '), reason: said || `exit code ${r.status ?? r.signal}` });
  }
}

/**
 * The systemd service whose control group holds `pid` (`herd-alice.service`),
 * from /proc/PID/cgroup (the unified line, or the name=systemd one of a
 * hybrid hierarchy); null outside any service.
 */
export function serviceOf(pid: number | 'self', proc = '/proc'): string | null {
  let text: string;
  try {
    text = fs.readFileSync(`${proc}/${pid}/cgroup`, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    const [, controllers, group] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
    if (group === undefined || (controllers !== '' && controllers !== 'name=systemd')) continue;
    const unit = group.split('/').reverse().find((part) => part.endsWith('.service'));
    if (unit !== undefined) return unit;
  }
  return null;
}
