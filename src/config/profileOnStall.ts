import { MAX_PROFILE_MS, MIN_PROFILE_MS } from '../protocol/profile';
import { formatDuration } from '../util/units';
import { readDuration, readObject, sub } from './readers';
import type { Report, Setting } from './report';
import type { ProfileOnStallSpec } from './types';

export const PROFILE_ON_STALL_KEYS = ['delay', 'duration', 'cooldown'] as const;

export const PROFILE_ON_STALL_DEFAULTS = {
  duration: 5000,
  /** Per app: a slow loop that hits every worker at once (one cause) gives one profile, not one per worker. */
  cooldown: 5 * 60_000,
} as const;

/**
 * App key `profileOnStall: { delay: '200ms', duration: '5s', cooldown: '5m' }`:
 * when a worker's event-loop delay passes `delay`, herd takes a CPU profile
 * of it for `duration`, at most once per `cooldown` per app. `delay` is
 * required: there is no delay that suits every app.
 */
export function readProfileOnStall(s: Setting, r: Report): ProfileOnStallSpec | null {
  const obj = readObject(s, PROFILE_ON_STALL_KEYS, r);
  if (s === undefined || obj === undefined) return null;
  const delaySetting = sub(obj, 'delay', s.key);
  if (delaySetting === undefined) r.problem(`${s.key}.delay`, "is required: the event-loop delay that starts a profile, e.g. '200ms'");
  const delay = readDuration(delaySetting, r, 1);
  const durationSetting = sub(obj, 'duration', s.key);
  let duration = readDuration(durationSetting, r, MIN_PROFILE_MS);
  if (duration !== undefined && duration > MAX_PROFILE_MS) {
    r.problem(durationSetting?.key ?? `${s.key}.duration`, `must be at most ${formatDuration(MAX_PROFILE_MS)}; got ${formatDuration(duration)}`);
    duration = undefined;
  }
  const cooldown = readDuration(sub(obj, 'cooldown', s.key), r, 0);
  return {
    delay: delay ?? 0,
    duration: duration ?? PROFILE_ON_STALL_DEFAULTS.duration,
    cooldown: cooldown ?? PROFILE_ON_STALL_DEFAULTS.cooldown,
  };
}
