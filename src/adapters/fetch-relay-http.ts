import crossFetch from 'cross-fetch';
import type { Clock } from '../ports/clock.js';
import { RELAY_PROTOCOL_HEADER, RELAY_PROTOCOL_VERSION, type RelayHttp } from '../ports/relay-http.js';
import type { InsightInput, InsightResult, RelayTask, TaskStatusInput } from '../protocol/relay-events.js';
import type { SendMessageInput, SendMessageResult } from '../protocol/relay-messages.js';
import type { RelayPermissionRequest } from '../protocol/relay-permissions.js';
import { RELAY_HTTP_SHAPES as SHAPES, decodeText, type WireShape } from '../protocol/relay-codec.js';
import { InvalidArgumentError, ProtocolError, RelayHttpError, RelayUnavailableError } from '../errors/index.js';
import type { InferOutput } from 'valibot';
import { requireClock } from './require-clock.js';

/**
 * The slice of a fetch `Response` the adapter reads.
 * @public
 */
export interface FetchResponseLike {
  /** HTTP status. */
  readonly status: number;
  /** Response headers. */
  readonly headers: { get(name: string): string | null };
  /** Body as text. */
  text(): Promise<string>;
  /** Body as bytes. */
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * A `fetch` function: the platform's, cross-fetch, or a host's own (e.g. Electron's `net.fetch`).
 * @public
 */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<FetchResponseLike>;

/**
 * Options of {@link createFetchRelayHttp}.
 * @public
 */
export interface FetchRelayHttpOptions {
  /** Relay base URL, without `/v1` (e.g. `https://relay.example.com`). */
  baseUrl: string;
  /** The current agent token; read on every call, so a renewal takes effect at once. */
  token: () => string | undefined;
  /** The workspace API key, for `register` and for token recovery after expiry. */
  apiKey?: () => string | undefined;
  /** The fetch to use. @defaultValue cross-fetch */
  fetch?: FetchLike;
  /** Timers for the per-call timeout (`createSystemClock()` in production). */
  clock: Clock;
  /** Longest wait for any one call, connection included. @defaultValue 15000 */
  timeoutMs?: number;
}

/**
 * The {@link RelayHttp} of {@link createFetchRelayHttp}, plus the relay routes the runner itself
 * never calls (for hosts, tools and tests).
 * @public
 */
export interface FetchRelayHttp extends RelayHttp {
  /** Delete an agent and revoke its tokens. */
  deleteAgent(agentId: string): Promise<void>;
  /** Send one message (idempotent on `idempotencyKey`); the runner sends through the ordered batch instead. */
  sendMessage(input: SendMessageInput): Promise<SendMessageResult>;
  /** Update a task's status (idempotent on `idempotencyKey`). */
  taskStatus(input: TaskStatusInput): Promise<RelayTask>;
  /** Post an insight observation; 409 (`insights_disabled`) when insights are off. */
  insight(input: InsightInput): Promise<InsightResult>;
  /** Read a permission request (and its decision, once made). */
  getPermissionRequest(agentId: string, permissionId: string): Promise<RelayPermissionRequest>;
}

/**
 * The default {@link RelayHttp}: JSON over `fetch`, protocol header on every call, a timeout on
 * every call, errors mapped to `RelayHttpError` / `RelayUnavailableError` / `ProtocolError`, and
 * every answer checked against the protocol schema (a malformed body is a `ProtocolError`).
 * @public
 */
export function createFetchRelayHttp(options: FetchRelayHttpOptions): FetchRelayHttp {
  if (typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
    throw new InvalidArgumentError('relay baseUrl must be an http(s) URL');
  }
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch: FetchLike = options.fetch ?? (crossFetch as unknown as FetchLike);
  // No default clock here: the composition root (createRunner) resolves it, once.
  requireClock(options?.clock, 'createFetchRelayHttp');
  const { clock } = options;
  const timeoutMs = options.timeoutMs ?? 15_000;
  const enc = encodeURIComponent;

  type Auth = 'token' | 'key';
  /** One request; the answer is checked against `answer` (a bad body is a ProtocolError, never a later TypeError). */
  const call = async <S extends WireShape>(method: string, path: string, body: unknown, auth: Auth, answer: S): Promise<InferAnswer<S>> => {
    const text = await exchange(method, path, body, auth, false);
    const decoded = decodeText(answer, text as string, 'body');
    if (!decoded.ok) {
      throw new ProtocolError(`relay answered ${method} ${path} with a malformed body: ${decoded.reason}`, {
        data: { problem: decoded.problem, reason: decoded.reason },
      });
    }
    return decoded.value as InferAnswer<S>;
  };

  const exchange = async (method: string, path: string, body: unknown, auth: Auth, raw: boolean): Promise<string | Uint8Array> => {
    const secret = auth === 'key' ? options.apiKey?.() : options.token();
    if (!secret) {
      throw new RelayHttpError(401, `no ${auth === 'key' ? 'workspace API key' : 'agent token'} for ${method} ${path}`);
    }
    const headers: Record<string, string> = {
      Accept: raw ? '*/*' : 'application/json',
      Authorization: `Bearer ${secret}`,
      [RELAY_PROTOCOL_HEADER]: String(RELAY_PROTOCOL_VERSION),
    };
    const init: Parameters<FetchLike>[1] = { method, headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const controller = new AbortController();
    init.signal = controller.signal;
    let timedOut = false;
    const timer = clock.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    timer.unref();
    try {
      let response: FetchResponseLike;
      try {
        response = await doFetch(`${base}${path}`, init);
      } catch (error) {
        throw unavailable(method, path, error, timedOut, timeoutMs);
      }
      let bytes: Uint8Array | undefined;
      let text = '';
      try {
        if (raw && response.status >= 200 && response.status < 300) bytes = new Uint8Array(await response.arrayBuffer());
        else text = await response.text();
      } catch (error) {
        throw unavailable(method, path, error, timedOut, timeoutMs);
      }
      if (response.status < 200 || response.status >= 300) throw httpError(method, path, response, text, clock.now());
      return raw ? (bytes as Uint8Array) : text;
    } finally {
      clock.clearTimeout(timer);
    }
  };

  const agentPath = (agentId: string, rest = '') => `/v1/agents/${enc(requireId(agentId))}${rest}`;

  const http: FetchRelayHttp = {
    register: (input) => call('POST', '/v1/agents', input, 'key', SHAPES['register.response']),
    deleteAgent: async (agentId) => {
      await call('DELETE', agentPath(agentId), undefined, 'token', SHAPES['delete.response']);
    },
    heartbeat: (agentId) => call('POST', agentPath(agentId, '/heartbeat'), {}, 'token', SHAPES['heartbeat.response']),
    renewToken: async (agentId) => {
      const renew = (auth: Auth) => call('POST', agentPath(agentId, '/token'), {}, auth, SHAPES['token.response']);
      try {
        return await renew('token');
      } catch (error) {
        // An expired or revoked token cannot renew itself: recover with the workspace key if we have one.
        const refused = error instanceof RelayHttpError && error.status === 401;
        if (!refused || !options.apiKey?.()) throw error;
        return renew('key');
      }
    },
    sendMessage: (input) => call('POST', '/v1/messages', input, 'token', SHAPES['message.response']),
    sendBatch: (items) => call('POST', '/v1/events/batch', { items }, 'token', SHAPES['batch.response']),
    pollUnread: async (agentId, opts = {}) => {
      const query = opts.limit === undefined ? '' : `?limit=${opts.limit}`;
      return (await call('GET', agentPath(agentId, `/messages/unread${query}`), undefined, 'token', SHAPES['unread.response'])).messages;
    },
    markRead: async (agentId, messageIds) =>
      (await call('POST', agentPath(agentId, '/messages/read'), { ids: messageIds }, 'token', SHAPES['markRead.response'])).marked,
    obligations: async (agentId) => (await call('GET', agentPath(agentId, '/obligations'), undefined, 'token', SHAPES['obligations.response'])).obligations,
    taskStatus: async (input) => {
      const { taskId, ...body } = input;
      return (await call('POST', `/v1/tasks/${enc(requireId(taskId))}/status`, body, 'token', SHAPES['taskStatus.response'])).task;
    },
    insight: (input) => call('POST', '/v1/insights', input, 'token', SHAPES['insight.response']),
    createPermissionRequest: async (agentId, input) =>
      (await call('POST', agentPath(agentId, '/permissions'), input, 'token', SHAPES['permission.response'])).permission,
    getPermissionRequest: async (agentId, permissionId) => {
      const path = agentPath(agentId, `/permissions/${enc(requireId(permissionId))}`);
      return (await call('GET', path, undefined, 'token', SHAPES['permission.response'])).permission;
    },
    downloadAttachment: async (url, opts = {}) => {
      // Only relative relay paths: an attachment URL must never send the token to another host.
      if (!url.startsWith('/v1/attachments/')) throw new InvalidArgumentError('attachment url must be a /v1/attachments/ path on the relay');
      const bytes = (await exchange('GET', url, undefined, 'token', true)) as Uint8Array;
      if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
        throw new InvalidArgumentError(`attachment is ${bytes.length} bytes, over the ${opts.maxBytes}-byte cap`);
      }
      return bytes;
    },
  };
  return http;
}

type InferAnswer<S> = S extends WireShape<infer T> ? InferOutput<T> : never;

function requireId(id: string): string {
  if (typeof id !== 'string' || id.length === 0) throw new InvalidArgumentError('relay ids must be non-empty strings');
  return id;
}

function unavailable(method: string, path: string, error: unknown, timedOut: boolean, timeoutMs: number): RelayUnavailableError {
  if (timedOut) {
    return new RelayUnavailableError(`relay did not answer ${method} ${path} within ${timeoutMs} ms`, { timedOut: true, cause: error });
  }
  const detail = error instanceof Error ? error.message.split('\n')[0] : String(error);
  return new RelayUnavailableError(`relay unreachable for ${method} ${path}: ${detail}`, { cause: error });
}

function httpError(method: string, path: string, response: FetchResponseLike, text: string, now: number): Error {
  // The error body is checked with the protocol schema too; anything else is reported as a line of text.
  const decoded = decodeText(SHAPES['error.response'], text, 'body');
  const code = decoded.ok ? decoded.value.error.code : undefined;
  const serverMessage = decoded.ok ? decoded.value.error.message : text ? text.split('\n')[0]!.slice(0, 200) : undefined;
  if (code === 'protocol_mismatch') {
    // Not a RelayHttpError on purpose: the outbox would treat a 400 as a permanent rejection and
    // drop events, while a version mismatch is a deployment problem to be retried after a fix.
    return new ProtocolError(`relay refused protocol ${RELAY_PROTOCOL_VERSION}: ${serverMessage ?? 'protocol mismatch'}`, {
      data: { status: response.status },
    });
  }
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now);
  const opts: { retryAfterMs?: number; serverMessage?: string; data: Record<string, unknown> } = { data: { serverCode: code } };
  if (retryAfterMs !== undefined) opts.retryAfterMs = retryAfterMs;
  if (serverMessage !== undefined) opts.serverMessage = serverMessage;
  return new RelayHttpError(response.status, `relay answered ${method} ${path} with ${response.status}${serverMessage ? `: ${serverMessage}` : ''}`, opts);
}

/**
 * Parse a `Retry-After` header (delay in seconds, or an HTTP date) into milliseconds from `now`.
 * @public
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
