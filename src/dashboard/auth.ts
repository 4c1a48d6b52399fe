import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import type * as http from 'node:http';
import { writeFileAtomic } from '../util/atomicWrite';
import { secretMatches } from '../util/secret';
import { CSRF_HEADER } from './apiTypes';

/**
 * The dashboard's access token. A configured token wins; otherwise one is
 * made once and kept in `$HERD_HOME/dashboard.token` (0600), so the printed
 * URL keeps working across daemon restarts.
 */
export async function loadToken(file: string, configured: string | null): Promise<string> {
  if (configured !== null) return configured;
  try {
    const kept = fs.readFileSync(file, 'utf8').trim();
    if (kept.length >= 16) return kept;
  } catch {
    // none yet
  }
  const token = randomBytes(24).toString('base64url');
  await writeFileAtomic(file, `${token}\n`, 0o600);
  return token;
}

/** Cookies are per host, not per port: two daemons on one machine must not overwrite each other's. */
export function cookieName(port: number): string {
  return `herd_dashboard_${port}`;
}

/**
 * Who may do what. A request is authorised by the cookie the page got on its
 * first visit with `?token=`, or by `Authorization: Bearer <token>` (scripts).
 * Actions must also be same-origin: the cookie is SameSite=Strict, actions
 * need a custom header (which a cross-site form cannot send, and a
 * cross-site fetch cannot without a CORS preflight that is never granted),
 * and an Origin header, when sent, must be this server's.
 */
export class DashboardAuth {
  constructor(readonly token: string, private readonly port: number) {}

  matches(candidate: string | undefined | null): boolean {
    return secretMatches(candidate, this.token);
  }

  authorised(req: http.IncomingMessage): boolean {
    const header = req.headers.authorization;
    if (typeof header === 'string' && header.startsWith('Bearer ') && this.matches(header.slice(7))) return true;
    return this.matches(readCookie(req.headers.cookie, cookieName(this.port)));
  }

  /** The cookie that keeps the page signed in after its first visit. */
  cookie(): string {
    return `${cookieName(this.port)}=${this.token}; HttpOnly; SameSite=Strict; Path=/`;
  }

  /** Null when a state-changing request may go ahead; otherwise why not. */
  crossSiteProblem(req: http.IncomingMessage): string | null {
    if (req.headers[CSRF_HEADER] !== '1') return `actions need the ${CSRF_HEADER} header`;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host ?? ''}`) return `origin ${origin} may not act on this dashboard`;
    return null;
  }
}

export function readCookie(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}
