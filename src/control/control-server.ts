/**
 * The runner's loopback control port (SPEC §8): a small `node:http` server the hook scripts and
 * the `send` / `status` / `log-level` commands call, plus the monitor: a `/monitor` WebSocket event
 * stream and the page that shows it (`monitor-routes.ts`, logged in through one-time links).
 * It knows routes, authentication, body caps and body validation, and nothing about who calls it:
 * the runner adds its own routes (`runner-routes.ts`), a provider adds its hooks' routes through
 * its `ProviderHost`. Endpoints and bodies are documented in `docs/control-port.md`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { InvalidArgumentError, RunnerError, isRunnerError } from '../errors/index.js';
import type { Clock, TimerHandle } from '../ports/clock.js';
import type { ControlResponse, ControlRoute, ControlRoutes } from '../ports/control.js';
import type { Logger } from '../ports/logger.js';
import { clip, describeBodyIssues } from './body-schema.js';
import type { MonitorLink } from './monitor-auth.js';
import { createMonitorGate, isMonitorPath, MONITOR_PATH } from './monitor-routes.js';
import { requireClock } from '../adapters/require-clock.js';
import { readRequestBody } from '../adapters/http-body.js';
import { describeError } from '../shared/describe-error.js';

/**
 * Options of {@link createControlServer}.
 * @public
 */
export interface ControlServerOptions {
  /** Routes served from the start (more can be added with {@link ControlRoutes.addRoute}). */
  routes?: ReadonlyArray<ControlRoute<unknown>>;
  /** What the `/monitor` hello carries as `status` (omitted when absent or when it fails). */
  monitorStatus?: () => unknown;
  /**
   * Events sent to a new `/monitor` client right after its hello, before any live event (recent
   * history, so a page opened late is complete). @defaultValue none
   */
  monitorBacklog?: () => readonly object[];
  /** How long a monitor login link works. @defaultValue 60000 */
  monitorLinkTtlMs?: number;
  /** Per-runner secret every request must present (`Authorization: Bearer <token>`). */
  token: string;
  /** Address to bind: loopback only. @defaultValue `'127.0.0.1'` */
  host?: '127.0.0.1' | '::1';
  /** Port to bind; 0 picks a free one. @defaultValue 0 */
  port?: number;
  /** The runner's logger (component `control`); tokens and bodies are never logged. */
  logger: Logger;
  /** Largest accepted request body, in bytes (413 above). @defaultValue 1 MiB */
  maxBodyBytes?: number;
  /** Source of time (request timing, monitor keep-alive pings); the host's clock, `createSystemClock()` in production. */
  clock: Clock;
  /** How often idle `/monitor` sockets are pinged; dead ones are dropped. @defaultValue 30000 */
  monitorPingIntervalMs?: number;
}

/**
 * A running control server.
 * @public
 */
export interface ControlServer extends ControlRoutes {
  /** Base URL, e.g. `http://127.0.0.1:43123`. */
  readonly url: string;
  /** The bound port (what hooks get as `AGENT_RELAY_RUNNER_PORT`). */
  readonly port: number;
  /** Number of connected `/monitor` clients. */
  readonly monitorClients: number;
  /** Send one JSON event to every `/monitor` client (dropped silently when it cannot be serialised). */
  publish(event: object): void;
  /** A fresh one-time login link to the monitor page (single use, short-lived). */
  monitorLink(): MonitorLink;
  /** Stop listening, drop monitor clients and open connections (pending handlers see their signal abort). Idempotent. */
  close(): Promise<void>;
}

type AnyRoute = ControlRoute<unknown>;
type RouteResult = { status: number; body?: string };

const DEFAULT_MAX_BODY = 1024 * 1024;
const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '::1']);
/** A monitor client this far behind is dropped rather than buffered without bound. */
const MONITOR_MAX_BUFFERED = 4 * 1024 * 1024;
const json = (value: unknown, status = 200): RouteResult => ({ status, body: JSON.stringify(value) });
const isJsonObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The host name of a Host header (`[::1]:8080` → `::1`), lower-cased. */
export function hostName(header: string): string {
  const value = header.trim().toLowerCase();
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end < 0 ? value : value.slice(1, end);
  }
  const colon = value.indexOf(':');
  // More than one colon without brackets is not a valid Host header; keep it whole (fails the check).
  if (colon >= 0 && value.indexOf(':', colon + 1) < 0) return value.slice(0, colon);
  return value;
}

/** True when a Host header names a loopback host (DNS-rebinding guard). */
export function isLoopbackHost(header: string | undefined): boolean {
  return header !== undefined && LOOPBACK_NAMES.has(hostName(header));
}

/** True when an Origin header is a loopback web origin (`http(s)://127.0.0.1|localhost|[::1][:port]`). */
export function isLoopbackOrigin(origin: string): boolean {
  try {
    const url = new URL(origin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return LOOPBACK_NAMES.has(host.toLowerCase());
  } catch {
    return false;
  }
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Bearer token from an Authorization header. */
function bearer(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** One-line, length-capped text for error bodies and logs. */
const oneLine = clip;

/** Parse a request body as JSON, or throw a one-line reason (a 400). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    const detail = error instanceof Error ? error.message.split('\n')[0] : 'parse error';
    throw new InvalidArgumentError(`malformed JSON: ${detail}`);
  }
}

/** The route's answer as wire text; a body that cannot be serialised is a handler bug (500). */
function toResult(response: ControlResponse): RouteResult {
  if (response.body === undefined) return { status: response.status };
  return { status: response.status, body: JSON.stringify(response.body) };
}

/**
 * Start the control server on loopback.
 * @remarks Every request needs the bearer token (401), a loopback Host header (403), a body under
 * the cap (413) and well-formed JSON its route's schema accepts (400 with a one-line reason);
 * unknown paths are 404, other methods on a known path 405, and handler failures a generic 500
 * (logged, never sent). Routes can be added and removed while it runs.
 * @public
 */
export async function createControlServer(options: ControlServerOptions): Promise<ControlServer> {
  const { logger } = options;
  if (typeof options.token !== 'string' || options.token.length === 0) throw new InvalidArgumentError('control token must be a non-empty string');
  const host = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1' && host !== '::1') throw new InvalidArgumentError(`control server binds loopback only, not "${String(host)}"`);
  const requestedPort = options.port ?? 0;
  // A string would make node listen on a Unix socket of that name; out of range throws inside listen.
  if (typeof requestedPort !== 'number' || !Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
    throw new InvalidArgumentError(`control port must be an integer 0–65535, got ${oneLine(JSON.stringify(requestedPort) ?? String(requestedPort), 40)}`);
  }
  // No default clock here: the composition root (createRunner) resolves it, once.
  requireClock(options?.clock, 'createControlServer');
  const { clock } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const tokenDigest = digest(options.token);
  logger.addSecret?.(options.token);

  const tokenMatches = (candidate: string | undefined) => candidate !== undefined && timingSafeEqual(digest(candidate), tokenDigest);
  /** The bound port, known once listening (no request arrives before). */
  let port = 0;
  const gate = createMonitorGate({
    clock,
    linkTtlMs: options.monitorLinkTtlMs ?? 60_000,
    port: () => port,
    baseUrl: () => (host === '::1' ? `http://[::1]:${port}` : `http://127.0.0.1:${port}`),
  });

  const routes = new Map<string, AnyRoute>();
  const addRoute = (route: AnyRoute): (() => void) => {
    if (route.method !== 'GET' && route.method !== 'POST') throw new InvalidArgumentError(`unsupported method "${String(route.method)}"`);
    if (typeof route.path !== 'string' || !route.path.startsWith('/') || isMonitorPath(route.path)) {
      throw new InvalidArgumentError(`invalid route path "${oneLine(String(route.path), 80)}"`);
    }
    const key = `${route.method} ${route.path}`;
    if (routes.has(key)) throw new InvalidArgumentError(`route ${key} is already registered`);
    routes.set(key, route);
    return () => {
      if (routes.get(key) === route) routes.delete(key);
    };
  };
  for (const route of options.routes ?? []) addRoute(route);
  /** Methods served on a path, for 405 answers. */
  const methodsOf = (path: string): string[] => {
    const methods: string[] = [];
    for (const route of routes.values()) if (route.path === path) methods.push(route.method);
    return methods;
  };

  const send = (res: ServerResponse, result: RouteResult, extraHeaders: Record<string, string> = {}) => {
    if (res.headersSent || res.destroyed) return;
    const headers: Record<string, string | number> = { 'cache-control': 'no-store', ...extraHeaders };
    if (result.body !== undefined && result.body.length > 0) {
      headers['content-type'] = 'application/json; charset=utf-8';
      headers['content-length'] = Buffer.byteLength(result.body);
      res.writeHead(result.status, headers).end(result.body);
    } else {
      res.writeHead(result.status, headers).end();
    }
  };
  const fail = (res: ServerResponse, status: number, reason: string, headers: Record<string, string> = {}) =>
    send(res, json({ error: oneLine(reason) }, status), headers);

  /** Read the body under the cap; undefined when a 413 was already sent. */
  const readBody = async (req: IncomingMessage, res: ServerResponse): Promise<string | undefined> => {
    const body = await readRequestBody(req, maxBodyBytes);
    if (body.ok) return body.text;
    // Close after answering: the rest of the upload is not worth reading.
    fail(res, 413, `body larger than ${maxBodyBytes} bytes`, { connection: 'close' });
    res.once('finish', () => req.destroy());
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<number> => {
    if (!isLoopbackHost(req.headers.host)) return fail(res, 403, 'forbidden: Host must be a loopback name'), 403;
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    // The monitor page authenticates with its session cookie (or the token); it has its own rules.
    if (isMonitorPath(path)) return gate.serve(req, res, tokenMatches(bearer(req.headers.authorization)));
    if (!tokenMatches(bearer(req.headers.authorization))) {
      return fail(res, 401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' }), 401;
    }
    const method = req.method ?? 'GET';
    const route = routes.get(`${method} ${path}`);
    if (!route) {
      const allowed = methodsOf(path);
      if (allowed.length > 0) return fail(res, 405, `method ${method} not allowed`, { allow: allowed.join(', ') }), 405;
      return fail(res, 404, `no such endpoint: ${oneLine(path, 80)}`), 404;
    }
    let body: unknown;
    if (method === 'POST') {
      const text = await readBody(req, res);
      if (text === undefined) return 413;
      const parsed = parseJson(text);
      if (route.body) {
        const checked = await route.body['~standard'].validate(parsed);
        if (checked.issues) throw new InvalidArgumentError(describeBodyIssues(checked.issues));
        body = checked.value;
      } else {
        if (!isJsonObject(parsed)) throw new InvalidArgumentError('body must be a JSON object');
        body = parsed;
      }
    }
    const aborter = new AbortController();
    // `close` before the response finished means the hook gave up (curl timeout) or was killed.
    res.once('close', () => {
      if (!res.writableFinished) aborter.abort();
    });
    const result = toResult(await route.handle(body, { signal: aborter.signal }));
    send(res, result);
    return result.status;
  };

  const server: Server = createServer((req, res) => {
    const started = clock.now();
    const finish = (status: number) =>
      logger.debug('control', `${req.method ?? '?'} ${(req.url ?? '').split('?')[0] ?? ''} -> ${status} in ${clock.now() - started} ms`);
    handle(req, res).then(finish, (error: unknown) => {
      if (isRunnerError(error) && error.code === 'INVALID_ARGUMENT') {
        fail(res, 400, error.message);
        finish(400);
        return;
      }
      logger.error('control', `handler failed for ${req.method ?? '?'} ${(req.url ?? '').split('?')[0] ?? ''}: ${describeError(error)}`);
      fail(res, 500, 'internal error');
      finish(500);
    });
  });
  // Malformed HTTP never reaches the handler; answer it and keep serving.
  server.on('clientError', (_error, socket: Duplex) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    else socket.destroy();
  });
  server.on('error', (error) => logger.error('control', `server error: ${error.message}`));

  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  const clients = new Set<WebSocket>();
  const alive = new WeakMap<WebSocket, boolean>();

  const refuseUpgrade = (socket: Duplex, status: number, text: string) => {
    if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    socket.destroy();
  };

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    try {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      if (!isLoopbackHost(req.headers.host)) return refuseUpgrade(socket, 403, 'Forbidden');
      const origin = req.headers.origin;
      if (origin !== undefined && !isLoopbackOrigin(origin)) {
        logger.warn('control', `refused /monitor upgrade from non-loopback origin ${oneLine(origin, 80)}`);
        return refuseUpgrade(socket, 403, 'Forbidden');
      }
      const candidate = bearer(req.headers.authorization) ?? url.searchParams.get('token') ?? undefined;
      // Programmatic clients present the token; the page presents its session cookie.
      if (!tokenMatches(candidate) && !gate.upgradeAllowed(req)) return refuseUpgrade(socket, 401, 'Unauthorized');
      if (url.pathname !== MONITOR_PATH) return refuseUpgrade(socket, 404, 'Not Found');
      wss.handleUpgrade(req, socket, head, (ws) => {
        alive.set(ws, true);
        ws.on('pong', () => alive.set(ws, true));
        ws.on('close', () => clients.delete(ws));
        ws.on('error', () => clients.delete(ws));
        // Incoming frames are ignored: the stream is one-way.
        void Promise.resolve()
          .then(() => options.monitorStatus?.())
          .catch(() => undefined)
          .then((status) => {
            // A client that arrived while the server closes is dropped, not left open.
            if (closing) return void ws.terminate();
            sendTo(ws, JSON.stringify(status === undefined ? { type: 'hello', at: clock.now() } : { type: 'hello', at: clock.now(), status }));
            // Backlog and joining the live set in one step: no event is missed or sent twice.
            for (const event of backlog()) sendTo(ws, event);
            if (ws.readyState === ws.OPEN) clients.add(ws);
          });
      });
    } catch (error) {
      logger.warn('control', `monitor upgrade failed: ${describeError(error)}`);
      refuseUpgrade(socket, 400, 'Bad Request');
    }
  });

  const serialise = (event: object): string | undefined => {
    try {
      return JSON.stringify(event);
    } catch (error) {
      logger.warn('control', `monitor event not serialisable: ${describeError(error)}`);
      return undefined;
    }
  };
  const backlog = (): string[] => {
    try {
      return (options.monitorBacklog?.() ?? []).map(serialise).filter((data): data is string => data !== undefined);
    } catch (error) {
      logger.warn('control', `monitor backlog failed: ${describeError(error)}`);
      return [];
    }
  };

  const sendTo = (ws: WebSocket, data: string) => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > MONITOR_MAX_BUFFERED) {
      logger.warn('control', 'dropping a /monitor client that stopped reading');
      ws.terminate();
      clients.delete(ws);
      return;
    }
    ws.send(data, () => undefined);
  };

  const ping: TimerHandle = clock
    .setInterval(() => {
      for (const ws of clients) {
        if (alive.get(ws) === false) {
          ws.terminate();
          clients.delete(ws);
          continue;
        }
        alive.set(ws, false);
        try {
          ws.ping();
        } catch {
          clients.delete(ws);
        }
      }
    }, options.monitorPingIntervalMs ?? 30_000)
    .unref();

  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      server.once('error', onError);
      server.listen(requestedPort, host, () => {
        server.off('error', onError);
        resolve();
      });
    });
  } catch (error) {
    // Nothing may outlive a failed bind: the keep-alive timer and the monitor endpoint go too.
    clock.clearInterval(ping);
    wss.close();
    const code = (error as NodeJS.ErrnoException).code;
    throw new RunnerError('BIND_FAILED', `control port could not listen on ${host}:${requestedPort}: ${code ?? (error as Error).message}`, {
      data: { host, port: requestedPort, ...(code ? { errno: code } : {}) },
      cause: error,
    });
  }
  const address = server.address();
  port = typeof address === 'object' && address ? address.port : 0;
  const url = host === '::1' ? `http://[::1]:${port}` : `http://127.0.0.1:${port}`;
  logger.info('control', `control port listening on ${url}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    addRoute: addRoute as ControlRoutes['addRoute'],
    get monitorClients() {
      return clients.size;
    },
    publish(event) {
      if (clients.size === 0) return;
      const data = serialise(event);
      if (data !== undefined) for (const ws of clients) sendTo(ws, data);
    },
    monitorLink: () => gate.link(),
    close() {
      closing ??= new Promise<void>((resolve) => {
        clock.clearInterval(ping);
        gate.close();
        for (const ws of clients) ws.terminate();
        clients.clear();
        wss.close();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
