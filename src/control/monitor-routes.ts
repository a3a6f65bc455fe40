/**
 * The plain-HTTP side of `/monitor`: the page and its two assets (session cookie, or the bearer
 * token), the one-time login (`GET /monitor/login?code=…`), and `POST /monitor/link`, which hands a
 * bearer-token holder (the `monitor` command) a fresh login link. The WebSocket stream on
 * `/monitor` is the control server's; it asks {@link MonitorGate.upgradeAllowed} about cookies.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../ports/clock.js';
import { MonitorAuth, type MonitorLink } from './monitor-auth.js';
import { MONITOR_CSS, MONITOR_HTML, MONITOR_JS } from './monitor-page.js';

/** The monitor's path; the page, its assets and the login live under it. */
export const MONITOR_PATH = '/monitor';

/** True for `/monitor` and every path under it (reserved: providers cannot add routes there). */
export const isMonitorPath = (path: string): boolean => path === MONITOR_PATH || path.startsWith(`${MONITOR_PATH}/`);

/**
 * What the page may load: its own script, style and WebSocket, nothing else (no inline code, no
 * third party, no frames), so injected text can never run.
 */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy': PAGE_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The login URL carries a code; it must not travel on as a Referer.
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

const ASSETS: Record<string, { type: string; body: string }> = {
  [MONITOR_PATH]: { type: 'text/html; charset=utf-8', body: MONITOR_HTML },
  [`${MONITOR_PATH}/app.js`]: { type: 'text/javascript; charset=utf-8', body: MONITOR_JS },
  [`${MONITOR_PATH}/app.css`]: { type: 'text/css; charset=utf-8', body: MONITOR_CSS },
};

/** A short HTML answer for a person (a refusal seen in the browser). */
function notice(title: string, text: string): string {
  return `<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${title}</title><h1>${title}</h1><p>${text}</p>`;
}
const LOGIN_HINT =
  'Open a fresh one-time link: <code>agent-relay-runner monitor --name &lt;agent&gt;</code>, or <code>runner.monitorLink()</code> from code.';

/** What {@link createMonitorGate} needs. */
export interface MonitorGateOptions {
  clock: Clock;
  /** How long a login link works. */
  linkTtlMs: number;
  /** The control server's base URL and port, known once it listens. */
  baseUrl: () => string;
  port: () => number;
}

/** The monitor's authentication and page serving. */
export interface MonitorGate {
  /** A fresh one-time login link. */
  link(): MonitorLink;
  /** Answer a plain HTTP request under `/monitor` (Host already checked); resolves with the status sent. */
  serve(req: IncomingMessage, res: ServerResponse, bearerOk: boolean): number;
  /**
   * Whether a WebSocket upgrade carries a valid session cookie from this server's own page: the
   * Origin must be exactly this server's, since browsers send the cookie to every port of the host.
   */
  upgradeAllowed(req: IncomingMessage): boolean;
  /** Forget codes and sessions. */
  close(): void;
}

/** Create the gate of one control server. */
export function createMonitorGate(options: MonitorGateOptions): MonitorGate {
  const auth = new MonitorAuth({ clock: options.clock, linkTtlMs: options.linkTtlMs, cookieName: () => `agent_relay_monitor_${options.port()}` });

  const link = (): MonitorLink => {
    const { code, expiresAt } = auth.issue();
    return { url: `${options.baseUrl()}${MONITOR_PATH}/login?code=${code}`, expiresAt };
  };

  const write = (res: ServerResponse, status: number, type: string | undefined, body: string, headers: Record<string, string> = {}): number => {
    if (res.headersSent || res.destroyed) return status;
    const all: Record<string, string | number> = { ...PAGE_HEADERS, ...headers };
    if (type) {
      all['content-type'] = type;
      all['content-length'] = Buffer.byteLength(body);
    }
    res.writeHead(status, all).end(type ? body : undefined);
    return status;
  };
  const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) =>
    write(res, status, 'application/json; charset=utf-8', JSON.stringify(value), headers);
  const html = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
    write(res, status, 'text/html; charset=utf-8', body, headers);

  const serve = (req: IncomingMessage, res: ServerResponse, bearerOk: boolean): number => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === `${MONITOR_PATH}/login`) {
      if (method !== 'GET') return json(res, 405, { error: `method ${method} not allowed` }, { allow: 'GET' });
      const cookie = auth.redeem(url.searchParams.get('code'));
      if (!cookie) return html(res, 403, notice('Link expired', `This monitor link was already used, has expired or is wrong. ${LOGIN_HINT}`));
      // 303: the browser lands on /monitor with a GET, and the URL it shows carries no code.
      return write(res, 303, undefined, '', { location: MONITOR_PATH, 'set-cookie': cookie });
    }
    if (path === `${MONITOR_PATH}/link`) {
      if (!bearerOk) return json(res, 401, { error: 'missing or wrong bearer token' }, { 'www-authenticate': 'Bearer' });
      if (method !== 'POST') return json(res, 405, { error: `method ${method} not allowed` }, { allow: 'POST' });
      return json(res, 200, link());
    }
    const cookieOk = auth.hasSession(req);
    const asset = ASSETS[path];
    if (!asset) {
      if (!cookieOk && !bearerOk) return json(res, 401, { error: 'not logged in' });
      return json(res, 404, { error: 'no such endpoint' });
    }
    if (method !== 'GET' && method !== 'HEAD') return json(res, 405, { error: `method ${method} not allowed` }, { allow: 'GET' });
    if (path === MONITOR_PATH && !cookieOk) {
      // A programmatic client with the token wants the event stream: tell it to upgrade.
      if (bearerOk) return json(res, 426, { error: 'use a WebSocket upgrade for /monitor, or open the page through a login link' }, { upgrade: 'websocket' });
      return html(res, 401, notice('Not logged in', `The monitor page needs a one-time login link. ${LOGIN_HINT}`));
    }
    if (!cookieOk && !bearerOk) return json(res, 401, { error: 'not logged in' });
    return write(res, 200, asset.type, asset.body);
  };

  const upgradeAllowed = (req: IncomingMessage): boolean => {
    const origin = req.headers.origin;
    const host = req.headers.host;
    if (!origin || !host) return false;
    if (origin.toLowerCase() !== `http://${host.toLowerCase()}`) return false;
    return auth.hasSession(req);
  };

  return { link, serve, upgradeAllowed, close: () => auth.clear() };
}
