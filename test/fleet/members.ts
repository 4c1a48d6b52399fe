/**
 * herd hosts of a test fleet: each in its own network namespace with its own
 * HERD_HOME and a config joining the fleet at a test Redis, and traffic
 * straight to their apps or through a balancer.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { FleetView } from '../../src/fleet/status';
import { CLI, FIXTURES, NODE } from '../helpers';
import type { AfterHook, FleetHost, FleetNet } from './netns';

export const SECRET = 'fleet-test-secret-0123456789';
export const APP_PORT = 8080;

export interface Member {
  host: FleetHost;
  home: string;
  config: string;
  herd: (args: string[], timeoutMs?: number) => Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export interface MemberOptions {
  /** The app entries of the config (default: `api`, 2 workers of hello.js on APP_PORT). */
  apps?: Record<string, unknown>[];
  /** More of the `fleet` key (lb, ...). */
  fleet?: Record<string, unknown>;
  /** More top-level config keys (health, ...). */
  extra?: Record<string, unknown>;
}

export const helloApp = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: 'api', script: path.join(FIXTURES, 'hello.js'), instances: 2, env: { PORT: String(APP_PORT) }, ...over,
});

/** A herd host in its namespace, with its own HERD_HOME (removed afterwards, its daemon killed) and herd.config.js there. */
export function member(t: AfterHook, net: FleetNet, host: FleetHost, redis: string, o: MemberOptions = {}): Member {
  const home = mkdtempSync(path.join(tmpdir(), 'herd-fleet-'));
  const env = { ...process.env, HERD_HOME: home };
  const herd = (args: string[], timeoutMs = 60_000) => net.run(host, NODE, [CLI, ...args], { env, timeoutMs });
  t.after(async () => {
    await herd(['kill']).catch(() => undefined);
    rmSync(home, { recursive: true, force: true });
  });
  const config = path.join(home, 'herd.config.js');
  writeFileSync(config, `module.exports = ${JSON.stringify({
    ...o.extra,
    fleet: { redis, host: host.name, address: host.address, secret: SECRET, ...o.fleet },
    apps: o.apps ?? [helloApp()],
  })};\n`);
  return { host, home, config, herd };
}

export async function fleetStatus(m: Member): Promise<{ code: number | null; view: FleetView; stderr: string }> {
  const r = await m.herd(['fleet', 'status', '--json']);
  return { code: r.code, view: JSON.parse(r.stdout) as FleetView, stderr: r.stderr };
}

export interface TrafficStats {
  ok: number;
  failed: number;
  non2xx: number;
  errors: string[];
}

/** GET loops (`loops` each) against each target until stop(); counts failures and non-2xx answers. */
export function traffic(t: AfterHook, targets: readonly { name: string; address: string; port: number }[], loops = 3): { stop: () => Promise<TrafficStats> } {
  let on = true;
  const stats: TrafficStats = { ok: 0, failed: 0, non2xx: 0, errors: [] };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  const one = (target: { name: string; address: string; port: number }) => new Promise<void>((resolve) => {
    http.get({ host: target.address, port: target.port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) stats.ok++;
        else {
          stats.non2xx++;
          if (stats.errors.length < 5) stats.errors.push(`${target.name}: HTTP ${res.statusCode}`);
        }
        resolve();
      });
    }).on('error', (err) => {
      stats.failed++;
      if (stats.errors.length < 5) stats.errors.push(`${target.name}: ${err.message}`);
      resolve();
    });
  });
  const running = targets.flatMap((target) => Array.from({ length: loops }, async () => {
    while (on) await one(target);
  }));
  const stop = async () => {
    on = false;
    await Promise.all(running);
    agent.destroy();
    return stats;
  };
  t.after(stop);
  return { stop };
}

/** Each host's app, reached straight. */
export const hostTargets = (hosts: readonly FleetHost[]) => hosts.map((h) => ({ name: h.name, address: h.address, port: APP_PORT }));
