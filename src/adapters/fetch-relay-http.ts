import crossFetch from 'cross-fetch';
import type { Clock } from '../ports/clock.js';
import {
  RELAY_PROTOCOL_HEADER,
  RELAY_PROTOCOL_VERSION,
  type InsightInput,
  type Obligation,
  type RelayPermissionRequestInput,
  type RegisterAgentInput,
  type RegisterAgentResult,
  type RelayBatchItem,
  type RelayBatchResult,
  type RelayHttp,
  type RelayMessage,
  type RelayPermissionRequest,
  type RelayTask,
  type SendMessageInput,
  type SendMessageResult,
  type TaskStatusInput,
  type TokenGrant,
} from '../ports/relay-http.js';
import { InvalidArgumentError, ProtocolError, RelayHttpError, RelayUnavailableError } from '../errors/index.js';
import { createSystemClock } from './system-clock.js';

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
  /** Timers for the per-call timeout. @defaultValue the system clock */
  clock?: Clock;
  /** Longest wait for any one call, connection included. @defaultValue 15000 */
  timeoutMs?: number;
}

/**
 * The default {@link RelayHttp}: JSON over `fetch`, protocol header on every call, a timeout on
 * every call, and errors mapped to `RelayHttpError` / `RelayUnavailableError` / `ProtocolError`.
 * @public
 */
export function createFetchRelayHttp(options: FetchRelayHttpOptions): RelayHttp {
  if (typeof options.baseUrl !== 'string' || !/^https?:\/\//.test(options.baseUrl)) {
    throw new InvalidArgumentError('relay baseUrl must be an http(s) URL');
  }
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch: FetchLike = options.fetch ?? (crossFetch as unknown as FetchLike);
  const clock = options.clock ?? createSystemClock();
  const timeoutMs = options.timeoutMs ?? 15_000;
  const enc = encodeURIComponent;

  type Auth = 'token' | 'key';
  const call = async <T>(method: string, path: string, body: unknown, auth: Auth, raw = false): Promise<T> => {
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
      if (raw) return bytes as T;
      if (text === '') return undefined as T;
      try {
        return JSON.parse(text) as T;
      } catch (error) {
        throw new ProtocolError(`relay answered ${method} ${path} with malformed JSON`, { cause: error });
      }
    } finally {
      clock.clearTimeout(timer);
    }
  };

  const agentPath = (agentId: string, rest = '') => `/v1/agents/${enc(requireId(agentId))}${rest}`;

  return {
    register: (input: RegisterAgentInput) => call<RegisterAgentResult>('POST', '/v1/agents', input, 'key'),
    deleteAgent: async (agentId) => {
      await call('DELETE', agentPath(agentId), undefined, 'token');
    },
    heartbeat: (agentId) => call<{ serverTime: number }>('POST', agentPath(agentId, '/heartbeat'), {}, 'token'),
    renewToken: async (agentId) => {
      try {
        return await call<TokenGrant>('POST', agentPath(agentId, '/token'), {}, 'token');
      } catch (error) {
        // An expired or revoked token cannot renew itself: recover with the workspace key if we have one.
        const refused = error instanceof RelayHttpError && error.status === 401;
        if (!refused || !options.apiKey?.()) throw error;
        return call<TokenGrant>('POST', agentPath(agentId, '/token'), {}, 'key');
      }
    },
    sendMessage: (input: SendMessageInput) => call<SendMessageResult>('POST', '/v1/messages', input, 'token'),
    sendBatch: (items: readonly RelayBatchItem[]) => call<RelayBatchResult>('POST', '/v1/events/batch', { items }, 'token'),
    pollUnread: async (agentId, opts = {}) => {
      const query = opts.limit === undefined ? '' : `?limit=${opts.limit}`;
      const result = await call<{ messages: RelayMessage[] }>('GET', agentPath(agentId, `/messages/unread${query}`), undefined, 'token');
      return result.messages;
    },
    markRead: async (agentId, messageIds) => {
      const result = await call<{ marked: number }>('POST', agentPath(agentId, '/messages/read'), { ids: messageIds }, 'token');
      return result.marked;
    },
    obligations: async (agentId) => {
      const result = await call<{ obligations: Obligation[] }>('GET', agentPath(agentId, '/obligations'), undefined, 'token');
      return result.obligations;
    },
    taskStatus: async (input: TaskStatusInput) => {
      const { taskId, ...body } = input;
      const result = await call<{ task: RelayTask }>('POST', `/v1/tasks/${enc(requireId(taskId))}/status`, body, 'token');
      return result.task;
    },
    insight: (input: InsightInput) => call<{ id: string; duplicate: boolean }>('POST', '/v1/insights', input, 'token'),
    createPermissionRequest: async (agentId, input: RelayPermissionRequestInput) => {
      const result = await call<{ permission: RelayPermissionRequest }>('POST', agentPath(agentId, '/permissions'), input, 'token');
      return result.permission;
    },
    getPermissionRequest: async (agentId, permissionId) => {
      const path = agentPath(agentId, `/permissions/${enc(requireId(permissionId))}`);
      const result = await call<{ permission: RelayPermissionRequest }>('GET', path, undefined, 'token');
      return result.permission;
    },
    downloadAttachment: async (url, opts = {}) => {
      // Only relative relay paths: an attachment URL must never send the token to another host.
      if (!url.startsWith('/v1/attachments/')) throw new InvalidArgumentError('attachment url must be a /v1/attachments/ path on the relay');
      const bytes = await call<Uint8Array>('GET', url, undefined, 'token', true);
      if (opts.maxBytes !== undefined && bytes.length > opts.maxBytes) {
        throw new InvalidArgumentError(`attachment is ${bytes.length} bytes, over the ${opts.maxBytes}-byte cap`);
      }
      return bytes;
    },
  };
}

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
  let code: string | undefined;
  let serverMessage: string | undefined;
  try {
    const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (typeof parsed.error?.code === 'string') code = parsed.error.code;
    if (typeof parsed.error?.message === 'string') serverMessage = parsed.error.message;
  } catch {
    if (text) serverMessage = text.split('\n')[0]!.slice(0, 200);
  }
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
