/**
 * The monitor page's login: single-use, short-lived codes the runner hands out as links
 * (`/monitor/login?code=…`), traded once for a session cookie (HttpOnly, SameSite=Strict, path
 * `/monitor`). The control token never appears in a URL, a page or the browser's history; a used
 * or expired link is worthless. Codes and sessions live in memory: a restarted runner needs a new
 * link.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../ports/clock.js';

/**
 * A one-time login link to the monitor page.
 * @public
 */
export interface MonitorLink {
  /** `http://127.0.0.1:<port>/monitor/login?code=<single-use code>`: open it once in a browser. */
  url: string;
  /** Epoch ms after which the link no longer works. */
  expiresAt: number;
}

/** What {@link MonitorAuth} needs. */
export interface MonitorAuthOptions {
  clock: Clock;
  /** How long a link works. */
  linkTtlMs: number;
  /** Cookie name; per port, since browsers share cookies between the ports of one host. */
  cookieName: () => string;
  /** Most sessions kept; the oldest is forgotten beyond it. @defaultValue 32 */
  maxSessions?: number;
  /** Most unused codes kept; the oldest is forgotten beyond it. @defaultValue 32 */
  maxCodes?: number;
}

const hash = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');
const secret = (): string => randomBytes(32).toString('base64url');

/** The value of one cookie in a `Cookie` header, if present. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Issues login codes and checks session cookies. Only digests are kept, so a heap dump or a log
 * line cannot be replayed as a login.
 */
export class MonitorAuth {
  readonly #o: MonitorAuthOptions;
  /** Code digest → expiry (epoch ms), oldest first. */
  readonly #codes = new Map<string, number>();
  /** Session digests, oldest first. */
  readonly #sessions = new Set<string>();

  constructor(options: MonitorAuthOptions) {
    this.#o = options;
  }

  /** A new single-use code and when it expires. */
  issue(): { code: string; expiresAt: number } {
    this.#purge();
    const code = secret();
    const expiresAt = this.#o.clock.now() + this.#o.linkTtlMs;
    this.#codes.set(hash(code), expiresAt);
    const max = this.#o.maxCodes ?? 32;
    for (const oldest of this.#codes.keys()) {
      if (this.#codes.size <= max) break;
      this.#codes.delete(oldest);
    }
    return { code, expiresAt };
  }

  /**
   * Trade a code for a new session: the `Set-Cookie` value, or undefined when the code is unknown,
   * used or expired. A code works once, even when the answer never reaches the browser.
   */
  redeem(code: string | null | undefined): string | undefined {
    this.#purge();
    if (!code) return undefined;
    const key = hash(code);
    if (!this.#codes.has(key)) return undefined;
    this.#codes.delete(key);
    const session = secret();
    this.#sessions.add(hash(session));
    const max = this.#o.maxSessions ?? 32;
    for (const oldest of this.#sessions) {
      if (this.#sessions.size <= max) break;
      this.#sessions.delete(oldest);
    }
    // No Max-Age: the cookie ends with the browser session; the server forgets it when the runner stops.
    return `${this.#o.cookieName()}=${session}; Path=/monitor; HttpOnly; SameSite=Strict`;
  }

  /** Whether the request carries a session cookie this runner issued. */
  hasSession(req: IncomingMessage): boolean {
    const value = cookieValue(req.headers.cookie, this.#o.cookieName());
    return value !== undefined && value.length > 0 && this.#sessions.has(hash(value));
  }

  /** Forget every code and session (the server is closing). */
  clear(): void {
    this.#codes.clear();
    this.#sessions.clear();
  }

  #purge(): void {
    const now = this.#o.clock.now();
    for (const [key, expiresAt] of this.#codes) if (expiresAt <= now) this.#codes.delete(key);
  }
}
