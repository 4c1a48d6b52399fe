import { CSRF_HEADER, type ActionLine, type ActionName, type AppPageView, type FleetActionBody, type FleetActionLine, type FleetActionName, type FleetPageView, type OverviewView } from '../src/dashboard/apiTypes';

/** The session's token is no longer accepted (daemon restarted with another one, cookie cleared). */
export class Unauthorised extends Error {}

/** The app asked for is gone (deleted meanwhile). */
export class NotFound extends Error {}

async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await fetch(path, { signal, cache: 'no-store', credentials: 'same-origin' });
  if (res.status === 401) throw new Unauthorised('unauthorised');
  const body = (await res.json()) as T & { error?: string };
  if (res.status === 404) throw new NotFound(body.error ?? 'not found');
  if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
  return body;
}

export function overview(signal?: AbortSignal): Promise<OverviewView> {
  return getJson('/api/overview', signal);
}

export function appPage(name: string, window: number, since: number | null, signal?: AbortSignal): Promise<AppPageView> {
  const q = new URLSearchParams({ window: String(window) });
  if (since !== null) q.set('since', String(since));
  return getJson(`/api/apps/${encodeURIComponent(name)}?${q}`, signal);
}

export function fleet(signal?: AbortSignal): Promise<FleetPageView> {
  return getJson('/api/fleet', signal);
}

/**
 * Runs an action and calls `onLine` for each progress line and the result,
 * as the daemon streams them (NDJSON). Resolves with the result line.
 */
export function act(name: string, action: ActionName, body: Record<string, unknown>, onLine: (line: ActionLine) => void): Promise<ActionLine> {
  return postLines(`/api/apps/${encodeURIComponent(name)}/${action}`, body, onLine, (l) => l.kind === 'result');
}

/** A fleet action (every host, or `body.host`): progress lines, the hosts' answers or the rollout's report, then a result or error line. */
export function actOnFleet(name: string, action: FleetActionName, body: FleetActionBody, onLine: (line: FleetActionLine) => void): Promise<FleetActionLine> {
  return postLines(`/api/fleet/apps/${encodeURIComponent(name)}/${action}`, body, onLine, (l) => l.kind === 'result' || l.kind === 'error');
}

/** POSTs with the CSRF header and reads the NDJSON answer line by line; resolves with the last line that `isEnd`. */
async function postLines<L>(path: string, body: object, onLine: (line: L) => void, isEnd: (line: L) => boolean): Promise<L> {
  const res = await fetch(path, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', [CSRF_HEADER]: '1' },
    body: JSON.stringify(body),
  });
  if (res.status === 401) throw new Unauthorised('unauthorised');
  if (!res.ok || !res.body) {
    const text = await res.text();
    let message = text;
    try {
      message = (JSON.parse(text) as { error?: string }).error ?? text;
    } catch {
      // not JSON: the text itself
    }
    throw new Error(`HTTP ${res.status}: ${message}`);
  }
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = '';
  let result: L | null = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffered += value;
    let nl: number;
    while ((nl = buffered.indexOf('\n')) !== -1) {
      const line = JSON.parse(buffered.slice(0, nl)) as L;
      buffered = buffered.slice(nl + 1);
      onLine(line);
      if (isEnd(line)) result = line;
    }
  }
  if (!result) throw new Error('the daemon ended the action without a result');
  return result;
}
