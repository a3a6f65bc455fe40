/**
 * A fake Anthropic Messages API on loopback: real `node:http`, the real server-sent-event wire
 * format, scripted per request. Claude Code runs against it with `ANTHROPIC_BASE_URL`.
 */
import type { ServerResponse } from 'node:http';
import type { Clock } from '../ports/clock.js';
import { createSystemClock } from '../adapters/system-clock.js';
import { InvalidArgumentError } from '../errors/index.js';
import { createScriptPicker, startScriptedHttpServer } from './scripted-http-server.js';

/**
 * One content block of a scripted model answer.
 * @public
 */
export type FakeAnthropicBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature?: string }
  | { type: 'tool_use'; name: string; input: Record<string, unknown>; id?: string };

/**
 * A scripted answer to one `POST /v1/messages`: a streamed message, or an API error status.
 * @public
 */
export type FakeAnthropicResponse =
  | {
      kind?: 'message';
      /** Content blocks, streamed in order. */
      blocks: readonly FakeAnthropicBlock[];
      /** @defaultValue `tool_use` when a block is a tool call, else `end_turn` */
      stopReason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence';
      /** Usage reported in `message_start` / `message_delta`. @defaultValue 100 input, 20 output */
      usage?: { inputTokens?: number; outputTokens?: number };
      /** Wait this long before the first byte (a slow model; the connection stays open). @defaultValue 0 */
      holdMs?: number;
      /** Wait this long between events (a long, streaming turn). @defaultValue 0 */
      eventDelayMs?: number;
    }
  | {
      kind: 'error';
      /** HTTP status, e.g. 400, 429, 500, 529. */
      status: number;
      /** Anthropic error type. @defaultValue `api_error` */
      errorType?: string;
      /** @defaultValue `scripted error` */
      message?: string;
    };

/**
 * A request the fake server received.
 * @public
 */
export interface FakeAnthropicRequest {
  /** 1-based arrival number over all requests. */
  seq: number;
  /** HTTP method. */
  method: string;
  /** Path and query string, e.g. `/v1/messages?beta=true`. */
  url: string;
  /** Path without the query string. */
  path: string;
  /** Request headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  /** The body text as received. */
  rawBody: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  body: unknown;
  /** When it arrived (the server's clock). */
  receivedAt: number;
}

/**
 * What a script function is given for each `POST /v1/messages`.
 * @public
 */
export interface FakeAnthropicCall {
  /** The request. */
  request: FakeAnthropicRequest;
  /** 0-based index among the `POST /v1/messages` calls answered so far. */
  index: number;
  /** The parsed body, typed loosely for convenience. */
  body: { model?: string; messages?: unknown[]; tools?: unknown[]; system?: unknown; stream?: boolean };
  /** All text the request carries (messages and tool results), to route on, e.g. `call.text.includes('[bash]')`. */
  text: string;
  /** Text of the last user message only (the newest prompt or tool result). */
  lastUserText: string;
}

/**
 * How the fake answers: a queue (consumed one per `POST /v1/messages`, then `fallback`), or a
 * function called for each one.
 * @public
 */
export type FakeAnthropicScript =
  | readonly FakeAnthropicResponse[]
  | ((call: FakeAnthropicCall) => FakeAnthropicResponse | Promise<FakeAnthropicResponse>);

/**
 * Options of {@link createFakeAnthropicServer}.
 * @public
 */
export interface FakeAnthropicServerOptions {
  /** Answer when a queue script is exhausted. @defaultValue a text block `(fake model: nothing scripted)` */
  fallback?: FakeAnthropicResponse;
  /** Timers for `holdMs` / `eventDelayMs` and `receivedAt`. @defaultValue the system clock */
  clock?: Clock;
  /** Port on 127.0.0.1. @defaultValue 0 (any free port) */
  port?: number;
  /** Called with every request as it arrives (e.g. to log what a CLI calls at startup). */
  onRequest?: (request: FakeAnthropicRequest) => void;
}

/**
 * A running fake Anthropic API.
 * @public
 */
export interface FakeAnthropicServer {
  /** Base URL for `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** The bound port. */
  readonly port: number;
  /** Every request received, in arrival order (all paths). */
  readonly requests: readonly FakeAnthropicRequest[];
  /** Only the `POST /v1/messages` requests (the model calls), in order. */
  messageRequests(): FakeAnthropicRequest[];
  /** Append answers to a queue script (ignored by function scripts: they decide themselves). */
  push(...responses: FakeAnthropicResponse[]): void;
  /** Stop listening and cut open streams (a held turn ends with a dropped connection). */
  close(): Promise<void>;
}

const DEFAULT_FALLBACK: FakeAnthropicResponse = { blocks: [{ type: 'text', text: '(fake model: nothing scripted)' }] };

/** Concatenated text of a message content value (string or blocks, including tool results). */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  for (const block of content) {
    if (typeof block !== 'object' || block === null) continue;
    const b = block as { type?: unknown; text?: unknown; content?: unknown };
    if (typeof b.text === 'string') parts.push(b.text);
    if (b.type === 'tool_result') parts.push(contentText(b.content));
  }
  return parts.join('\n');
}

function describeCall(request: FakeAnthropicRequest, index: number): FakeAnthropicCall {
  const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as FakeAnthropicCall['body'];
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const texts = messages.map((m) => contentText((m as { content?: unknown } | null)?.content));
  let lastUserText = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    if ((messages[i] as { role?: unknown } | null)?.role === 'user') {
      lastUserText = texts[i] ?? '';
      break;
    }
  }
  return { request, index, body, text: texts.join('\n'), lastUserText };
}

/** The SSE events of one scripted message, in wire order. */
function messageEvents(response: Extract<FakeAnthropicResponse, { blocks: unknown }>, model: string, id: string): Array<[string, unknown]> {
  const inputTokens = response.usage?.inputTokens ?? 100;
  const outputTokens = response.usage?.outputTokens ?? 20;
  const hasTool = response.blocks.some((b) => b.type === 'tool_use');
  const events: Array<[string, unknown]> = [
    [
      'message_start',
      {
        type: 'message_start',
        message: {
          id,
          type: 'message',
          role: 'assistant',
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: inputTokens, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
        },
      },
    ],
  ];
  response.blocks.forEach((block, index) => {
    switch (block.type) {
      case 'text':
        events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'text', text: '' } }]);
        for (const piece of chunks(block.text, 40)) {
          events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text: piece } }]);
        }
        break;
      case 'thinking':
        events.push(['content_block_start', { type: 'content_block_start', index, content_block: { type: 'thinking', thinking: '', signature: '' } }]);
        for (const piece of chunks(block.thinking, 40)) {
          events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking: piece } }]);
        }
        events.push([
          'content_block_delta',
          { type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: block.signature ?? 'fake-signature' } },
        ]);
        break;
      case 'tool_use': {
        const toolId = block.id ?? `toolu_fake_${id}_${index}`;
        events.push([
          'content_block_start',
          { type: 'content_block_start', index, content_block: { type: 'tool_use', id: toolId, name: block.name, input: {} } },
        ]);
        for (const piece of chunks(JSON.stringify(block.input), 40)) {
          events.push(['content_block_delta', { type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json: piece } }]);
        }
        break;
      }
    }
    events.push(['content_block_stop', { type: 'content_block_stop', index }]);
  });
  events.push([
    'message_delta',
    {
      type: 'message_delta',
      delta: { stop_reason: response.stopReason ?? (hasTool ? 'tool_use' : 'end_turn'), stop_sequence: null },
      usage: { output_tokens: outputTokens },
    },
  ]);
  events.push(['message_stop', { type: 'message_stop' }]);
  return events;
}

/** Split text into pieces so deltas look like a real stream (at least one piece, even when empty). */
function chunks(text: string, size: number): string[] {
  if (text.length <= size) return [text];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

/**
 * Start a fake Anthropic Messages API on `127.0.0.1`.
 *
 * @remarks
 * - `POST /v1/messages` (any query string) is answered from `script`: a queue of
 *   {@link FakeAnthropicResponse}s (then `fallback`), or a function of the call. Messages stream as
 *   `message_start`, `content_block_start` / `content_block_delta` (`text_delta`, `thinking_delta`
 *   + `signature_delta`, `input_json_delta`) / `content_block_stop`, `message_delta` (stop reason,
 *   usage), `message_stop`. A non-streaming request gets the same message as one JSON body.
 * - An error response is the API's JSON error body with its status (note Claude Code retries
 *   429/5xx with backoff; use 400 for an immediate failure).
 * - `POST /v1/messages/count_tokens` answers a token estimate; any other path answers `200 {}`
 *   (harmless for startup probes). Every request is recorded in `requests`.
 * @public
 */
export async function createFakeAnthropicServer(
  script: FakeAnthropicScript = [],
  options: FakeAnthropicServerOptions = {},
): Promise<FakeAnthropicServer> {
  if (typeof script !== 'function' && !Array.isArray(script)) {
    throw new InvalidArgumentError('createFakeAnthropicServer: script must be an array of responses or a function');
  }
  const clock = options.clock ?? createSystemClock();
  const fallback = options.fallback ?? DEFAULT_FALLBACK;
  const { pick, queue } = createScriptPicker<FakeAnthropicCall, FakeAnthropicResponse>(script, fallback);
  let messageCalls = 0;
  // Answers run only once the server below listens, so `server` is set by then.
  const sleep = (ms: number): Promise<void> => server.sleep(ms);

  const answerMessages = async (request: FakeAnthropicRequest, res: ServerResponse): Promise<void> => {
    const call = describeCall(request, messageCalls++);
    const response = await pick(call);
    if (response.kind === 'error') {
      const body = { type: 'error', error: { type: response.errorType ?? 'api_error', message: response.message ?? 'scripted error' } };
      res.writeHead(response.status, { 'content-type': 'application/json', 'request-id': `req_fake_${request.seq}` });
      res.end(JSON.stringify(body));
      return;
    }
    const model = typeof call.body.model === 'string' ? call.body.model : 'claude-fake';
    const id = `msg_fake_${request.seq}`;
    await sleep(response.holdMs ?? 0);
    if (res.destroyed) return;
    const events = messageEvents(response, model, id);
    if (call.body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json', 'request-id': `req_fake_${request.seq}` });
      res.end(JSON.stringify(assembleMessage(response, model, id)));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'request-id': `req_fake_${request.seq}`,
    });
    for (const [name, data] of events) {
      if (res.destroyed) return;
      res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
      await sleep(response.eventDelayMs ?? 0);
    }
    res.end();
  };

  const server = await startScriptedHttpServer<FakeAnthropicRequest>({
    clock,
    port: options.port,
    onRequest: options.onRequest,
    name: 'fake Anthropic server',
    internalErrorBody: (message) => ({ type: 'error', error: { type: 'api_error', message } }),
    async route(request, res) {
      const path = request.path;
      if (request.method === 'POST' && /\/v1\/messages\/count_tokens$/.test(path)) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ input_tokens: Math.max(1, Math.round(request.rawBody.length / 4)) }));
        return;
      }
      if (request.method === 'POST' && /\/v1\/messages$/.test(path)) {
        await answerMessages(request, res);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(request.method === 'HEAD' ? undefined : '{}');
    },
  });
  const { port, requests } = server;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    messageRequests: () => requests.filter((r) => r.method === 'POST' && /\/v1\/messages$/.test(r.path)),
    push(...responses) {
      server.assertOpen();
      queue.push(...responses);
    },
    close: () => server.close(),
  };
}

/** The same message as one JSON body, for non-streaming requests. */
function assembleMessage(response: Extract<FakeAnthropicResponse, { blocks: unknown }>, model: string, id: string): unknown {
  const hasTool = response.blocks.some((b) => b.type === 'tool_use');
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content: response.blocks.map((block, index) => {
      switch (block.type) {
        case 'text':
          return { type: 'text', text: block.text };
        case 'thinking':
          return { type: 'thinking', thinking: block.thinking, signature: block.signature ?? 'fake-signature' };
        case 'tool_use':
          return { type: 'tool_use', id: block.id ?? `toolu_fake_${id}_${index}`, name: block.name, input: block.input };
      }
    }),
    stop_reason: response.stopReason ?? (hasTool ? 'tool_use' : 'end_turn'),
    stop_sequence: null,
    usage: { input_tokens: response.usage?.inputTokens ?? 100, output_tokens: response.usage?.outputTokens ?? 20 },
  };
}
