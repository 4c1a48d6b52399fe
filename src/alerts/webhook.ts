import * as http from 'node:http';
import * as https from 'node:https';

export interface DeliveryOptions {
  /** ms one attempt may take. */
  timeoutMs: number;
  /** Attempts in all, the first included. */
  attempts: number;
  /** ms before the second attempt; doubles after each failure. */
  backoffMs: number;
}

export const DEFAULT_DELIVERY: DeliveryOptions = { timeoutMs: 5000, attempts: 4, backoffMs: 1000 };

/**
 * POSTs a JSON body, retrying on network errors, timeouts and non-2xx
 * answers. Resolves with how it went; never rejects, so a dead receiver can
 * never disturb the daemon.
 */
export async function postJson(url: string, body: unknown, options: DeliveryOptions = DEFAULT_DELIVERY): Promise<{ ok: boolean; attempts: number; error: string | null }> {
  const payload = Buffer.from(JSON.stringify(body));
  let error: string | null = null;
  for (let attempt = 1; attempt <= options.attempts; attempt++) {
    error = await once(url, payload, options.timeoutMs);
    if (error === null) return { ok: true, attempts: attempt, error: null };
    if (attempt < options.attempts) await new Promise((resolve) => setTimeout(resolve, options.backoffMs * 2 ** (attempt - 1)).unref());
  }
  return { ok: false, attempts: options.attempts, error };
}

function once(url: string, payload: Buffer, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    const req = client.request(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': payload.length, 'user-agent': 'herd-alerts' },
      timeout: timeoutMs,
    }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 300 ? null : `answered ${status}`);
      });
      res.on('error', (err) => resolve(err.message));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', (err) => resolve(err.message));
    req.end(payload);
  });
}
