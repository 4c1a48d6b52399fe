import type * as http from 'node:http';
import { toErrorData, type ErrorData } from '../errors';
import { MAX_PROFILE_MS, MIN_PROFILE_MS, type StallProfileView } from '../protocol/profile';
import type { TakenProfile } from '../daemon/supervision/profiling';

/** The dashboard's profile action: `Profile 10 s` on a worker row. */
export const DASHBOARD_PROFILE_MS = 10_000;

/** What the profile routes call: the supervisor's own operations. */
export interface DashboardProfiles {
  profile(name: string, worker: number | 'all' | null, durationMs: number, progress: (message: string) => void): Promise<TakenProfile[]>;
  stallProfiles(name: string): Promise<StallProfileView[]>;
  readStallProfile(name: string, file: string): Promise<string | null>;
}

/** NDJSON lines of POST /api/apps/:name/workers/:id/profile: progress, then the result with the profile. */
export type ProfileLine =
  | { kind: 'progress'; message: string }
  | { kind: 'result'; ok: true; worker: number; pid: number | null; durationMs: number; profile: unknown }
  | { kind: 'result'; ok: false; error: ErrorData };

/** The body's `durationMs` (absent: the button's 10 s), or why it is not one. */
export function profileDuration(body: Record<string, unknown>): number | string {
  if (body.durationMs === undefined) return DASHBOARD_PROFILE_MS;
  const ms = body.durationMs;
  if (!Number.isInteger(ms) || (ms as number) < MIN_PROFILE_MS || (ms as number) > MAX_PROFILE_MS) return `durationMs must be a whole number of ms from ${MIN_PROFILE_MS} to ${MAX_PROFILE_MS}`;
  return ms as number;
}

type Json = (res: http.ServerResponse, status: number, body: unknown) => void;

/** Runs the profile; the caller has checked auth, the cross-site rules and the app. Answers NDJSON as the other actions do. */
export async function profileAction(profiles: DashboardProfiles, res: http.ServerResponse, headers: http.OutgoingHttpHeaders, name: string, worker: number, durationMs: number): Promise<void> {
  res.writeHead(200, { ...headers, 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const send = (line: ProfileLine) => res.write(`${JSON.stringify(line)}\n`);
  try {
    const [taken] = await profiles.profile(name, worker, durationMs, (message) => send({ kind: 'progress', message }));
    if (!taken || taken.json === null) throw new Error(taken?.error ?? 'no profile');
    // The profile's JSON as it came from the inspector, spliced in rather than parsed and written again.
    res.write(`{"kind":"result","ok":true,"worker":${taken.worker},"pid":${taken.pid ?? 'null'},"durationMs":${durationMs},"profile":${taken.json}}\n`);
  } catch (err) {
    send({ kind: 'result', ok: false, error: toErrorData(err) });
  }
  res.end();
}

/** GET /api/apps/:name/profiles (the list) and /api/apps/:name/profiles/:file (one .cpuprofile). */
export async function stallProfileRoute(profiles: DashboardProfiles, res: http.ServerResponse, json: Json, headers: http.OutgoingHttpHeaders, name: string, file: string | null): Promise<void> {
  if (file === null) return json(res, 200, { profiles: await profiles.stallProfiles(name) });
  const text = await profiles.readStallProfile(name, file);
  if (text === null) return json(res, 404, { error: `no profile ${file} of ${name}` });
  res.writeHead(200, { ...headers, 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
