/**
 * A fake OpenAI API on loopback: real `node:http`, the real server-sent-event wire format,
 * scripted per request. It answers the Responses API (Codex, through a `model_providers` entry
 * whose `base_url` is this server's `url` + `/v1`) and Chat Completions (OpenCode and other
 * OpenAI-compatible clients, `fake-openai-chat.ts`), from the same script.
 */
import type { ServerResponse } from 'node:http';
import type { Clock } from '../ports/clock.js';
import { createSystemClock } from '../adapters/system-clock.js';
import { InvalidArgumentError } from '../errors/index.js';
import { createScriptPicker, startScriptedHttpServer } from './scripted-http-server.js';
import { CHAT_COMPLETIONS_PATH, chatChunks, chatCompletion, describeChatCall } from './fake-openai-chat.js';

/**
 * One output item of a scripted model answer.
 * @remarks `shell` is a convenience: a `function_call` to the shell tool the request offers
 * (`shell_command`, `exec_command` or `shell`, whichever Codex sent), with the command in the
 * argument shape that tool expects.
 * @public
 */
export type FakeOpenAIOutput =
  | { type: 'text'; text: string }
  | { type: 'reasoning'; summary: string; text?: string }
  | {
      type: 'function_call';
      name: string;
      arguments: Record<string, unknown> | string;
      callId?: string;
      /** The tool's namespace, for a tool offered inside a `namespace` tool (Codex offers MCP tools as namespace `mcp__<server>`). */
      namespace?: string;
    }
  /** A call of a freeform (`custom`) tool, e.g. Codex's `apply_patch` for models that offer it as one: `input` is the raw text. */
  | { type: 'custom_tool_call'; name: string; input: string; callId?: string }
  | { type: 'shell'; command: string; callId?: string; workdir?: string; justification?: string; escalate?: boolean };

/**
 * A scripted answer to one model call (`POST …/responses` or `POST …/chat/completions`): a
 * streamed response, or an API error status.
 * @public
 */
export type FakeOpenAIResponse =
  | {
      kind?: 'response';
      /** Output items, streamed in order. */
      output: readonly FakeOpenAIOutput[];
      /** Usage reported in `response.completed`. @defaultValue 100 input, 20 output */
      usage?: { inputTokens?: number; outputTokens?: number; reasoningTokens?: number };
      /** Wait this long before the first byte (a slow model; the connection stays open). @defaultValue 0 */
      holdMs?: number;
      /** Wait this long between events (a long, streaming turn). @defaultValue 0 */
      eventDelayMs?: number;
    }
  | {
      kind: 'error';
      /** HTTP status, e.g. 400, 429, 500. */
      status: number;
      /** OpenAI error code. @defaultValue `invalid_request_error` */
      code?: string;
      /** @defaultValue `scripted error` */
      message?: string;
    };

/**
 * A request the fake server received.
 * @public
 */
export interface FakeOpenAIRequest {
  /** 1-based arrival number over all requests. */
  seq: number;
  /** HTTP method. */
  method: string;
  /** Path and query string, e.g. `/v1/responses`. */
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
 * What a script function is given for each model call. For a chat-completions call `body.input`
 * holds the `messages`, `body.instructions` the system messages' text, and `afterToolOutput` says
 * the last message is a `tool` result.
 * @public
 */
export interface FakeOpenAICall {
  /** The request. */
  request: FakeOpenAIRequest;
  /** 0-based index among the model calls (both APIs) answered so far. */
  index: number;
  /** The parsed body, typed loosely for convenience. */
  body: { model?: string; input?: unknown[]; tools?: unknown[]; instructions?: string; stream?: boolean };
  /** All text of the input items (messages and tool outputs), to route on. */
  text: string;
  /** Text of the newest user message only. */
  lastUserText: string;
  /** Whether the last input item is a tool result (the model is being called back after a tool ran). */
  afterToolOutput: boolean;
  /** Names of the tools the request offers. */
  toolNames: string[];
}

/**
 * How the fake answers: a queue (consumed one per responses call, then `fallback`), or a
 * function called for each one.
 * @public
 */
export type FakeOpenAIScript =
  | readonly FakeOpenAIResponse[]
  | ((call: FakeOpenAICall) => FakeOpenAIResponse | Promise<FakeOpenAIResponse>);

/**
 * Options of {@link createFakeOpenAIServer}.
 * @public
 */
export interface FakeOpenAIServerOptions {
  /** Answer when a queue script is exhausted. @defaultValue a text item `(fake model: nothing scripted)` */
  fallback?: FakeOpenAIResponse;
  /** Timers for `holdMs` / `eventDelayMs` and `receivedAt`. @defaultValue the system clock */
  clock?: Clock;
  /** Port on 127.0.0.1. @defaultValue 0 (any free port) */
  port?: number;
  /** Called with every request as it arrives (e.g. to log what a CLI probes at startup). */
  onRequest?: (request: FakeOpenAIRequest) => void;
}

/**
 * A running fake OpenAI API.
 * @public
 */
export interface FakeOpenAIServer {
  /** Server root, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** What a provider's `base_url` should be: `url` + `/v1`. */
  readonly baseUrl: string;
  /** The bound port. */
  readonly port: number;
  /** Every request received, in arrival order (all paths). */
  readonly requests: readonly FakeOpenAIRequest[];
  /** Only the `POST …/responses` requests (the Responses API model calls), in order. */
  responseRequests(): FakeOpenAIRequest[];
  /** Only the `POST …/chat/completions` requests (the Chat Completions model calls), in order. */
  chatRequests(): FakeOpenAIRequest[];
  /** Append answers to a queue script (ignored by function scripts: they decide themselves). */
  push(...responses: FakeOpenAIResponse[]): void;
  /** Stop listening and cut open streams (a held turn ends with a dropped connection). */
  close(): Promise<void>;
}

const DEFAULT_FALLBACK: FakeOpenAIResponse = { output: [{ type: 'text', text: '(fake model: nothing scripted)' }] };
const RESPONSES_PATH = /\/responses$/;

type Loose = Record<string, unknown>;
const asObject = (v: unknown): Loose | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : undefined);

/** Concatenated text of one input item's content (string or content parts) or tool output. */
function itemText(item: Loose): string {
  const parts: string[] = [];
  const content = item.content;
  if (typeof content === 'string') parts.push(content);
  if (Array.isArray(content)) {
    for (const part of content) {
      const text = asObject(part)?.text;
      if (typeof text === 'string') parts.push(text);
    }
  }
  const output = item.output;
  if (typeof output === 'string') parts.push(output);
  else if (output !== undefined) parts.push(JSON.stringify(output));
  return parts.join('\n');
}

function describeCall(request: FakeOpenAIRequest, index: number): FakeOpenAICall {
  const body = (asObject(request.body) ?? {}) as FakeOpenAICall['body'];
  const input = Array.isArray(body.input) ? body.input.map((i) => asObject(i) ?? {}) : [];
  const texts = input.map(itemText);
  let lastUserText = '';
  for (let i = input.length - 1; i >= 0; i--) {
    if (input[i]?.role === 'user') {
      lastUserText = texts[i] ?? '';
      break;
    }
  }
  const lastType = input.at(-1)?.type;
  const afterToolOutput = typeof lastType === 'string' && lastType.endsWith('_output');
  const toolNames = (Array.isArray(body.tools) ? body.tools : [])
    .map((t) => asObject(t))
    .map((t) => (typeof t?.name === 'string' ? t.name : typeof t?.type === 'string' ? t.type : ''))
    .filter((n) => n !== '');
  return { request, index, body, text: texts.join('\n'), lastUserText, afterToolOutput, toolNames };
}

/** A `shell` convenience item as the function call of the shell tool the request offers. */
function shellCall(item: Extract<FakeOpenAIOutput, { type: 'shell' }>, toolNames: readonly string[]): { name: string; args: Loose } {
  const extra: Loose = {};
  if (item.workdir !== undefined) extra.workdir = item.workdir;
  if (item.justification !== undefined) extra.justification = item.justification;
  if (item.escalate) extra.sandbox_permissions = 'require_escalated';
  // Codex offers one of these shapes depending on its version and features.
  if (toolNames.includes('shell_command')) return { name: 'shell_command', args: { command: item.command, ...extra } };
  if (toolNames.includes('exec_command')) return { name: 'exec_command', args: { cmd: item.command, ...extra } };
  return { name: 'shell', args: { command: ['bash', '-lc', item.command], ...extra } };
}

/** The SSE events of one scripted response, in wire order. */
function responseEvents(response: Extract<FakeOpenAIResponse, { output: unknown }>, call: FakeOpenAICall, id: string): Loose[] {
  const model = typeof call.body.model === 'string' ? call.body.model : 'gpt-fake';
  const base = { id, object: 'response', created_at: 0, model, status: 'in_progress', output: [] as unknown[] };
  const events: Loose[] = [
    { type: 'response.created', response: base },
    { type: 'response.in_progress', response: base },
  ];
  const done: unknown[] = [];
  response.output.forEach((item, outputIndex) => {
    const itemId = `${id}_item${outputIndex}`;
    switch (item.type) {
      case 'text': {
        const added = { type: 'message', id: itemId, role: 'assistant', status: 'in_progress', content: [] };
        events.push({ type: 'response.output_item.added', output_index: outputIndex, item: added });
        events.push({
          type: 'response.content_part.added',
          item_id: itemId,
          output_index: outputIndex,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [] },
        });
        for (const delta of chunks(item.text, 40)) {
          events.push({ type: 'response.output_text.delta', item_id: itemId, output_index: outputIndex, content_index: 0, delta });
        }
        events.push({ type: 'response.output_text.done', item_id: itemId, output_index: outputIndex, content_index: 0, text: item.text });
        const final = { ...added, status: 'completed', content: [{ type: 'output_text', text: item.text, annotations: [] }] };
        events.push({ type: 'response.output_item.done', output_index: outputIndex, item: final });
        done.push(final);
        break;
      }
      case 'reasoning': {
        const added = { type: 'reasoning', id: itemId, summary: [] };
        events.push({ type: 'response.output_item.added', output_index: outputIndex, item: added });
        events.push({ type: 'response.reasoning_summary_part.added', item_id: itemId, output_index: outputIndex, summary_index: 0, part: { type: 'summary_text', text: '' } });
        for (const delta of chunks(item.summary, 40)) {
          events.push({ type: 'response.reasoning_summary_text.delta', item_id: itemId, output_index: outputIndex, summary_index: 0, delta });
        }
        events.push({ type: 'response.reasoning_summary_text.done', item_id: itemId, output_index: outputIndex, summary_index: 0, text: item.summary });
        const final: Loose = { type: 'reasoning', id: itemId, summary: [{ type: 'summary_text', text: item.summary }] };
        if (item.text !== undefined) final.content = [{ type: 'reasoning_text', text: item.text }];
        events.push({ type: 'response.output_item.done', output_index: outputIndex, item: final });
        done.push(final);
        break;
      }
      case 'custom_tool_call': {
        const callId = item.callId ?? `call_${id}_${outputIndex}`;
        const added = { type: 'custom_tool_call', id: itemId, call_id: callId, name: item.name, input: '', status: 'in_progress' };
        events.push({ type: 'response.output_item.added', output_index: outputIndex, item: added });
        for (const delta of chunks(item.input, 40)) {
          events.push({ type: 'response.custom_tool_call_input.delta', item_id: itemId, output_index: outputIndex, delta });
        }
        events.push({ type: 'response.custom_tool_call_input.done', item_id: itemId, output_index: outputIndex, input: item.input });
        const final = { ...added, input: item.input, status: 'completed' };
        events.push({ type: 'response.output_item.done', output_index: outputIndex, item: final });
        done.push(final);
        break;
      }
      case 'function_call':
      case 'shell': {
        const { name, args } =
          item.type === 'shell' ? shellCall(item, call.toolNames) : { name: item.name, args: item.arguments };
        const argumentsText = typeof args === 'string' ? args : JSON.stringify(args);
        const callId = item.callId ?? `call_${id}_${outputIndex}`;
        const namespace = item.type === 'function_call' && item.namespace !== undefined ? { namespace: item.namespace } : {};
        const added = { type: 'function_call', id: itemId, call_id: callId, name, ...namespace, arguments: '', status: 'in_progress' };
        events.push({ type: 'response.output_item.added', output_index: outputIndex, item: added });
        for (const delta of chunks(argumentsText, 40)) {
          events.push({ type: 'response.function_call_arguments.delta', item_id: itemId, output_index: outputIndex, delta });
        }
        events.push({ type: 'response.function_call_arguments.done', item_id: itemId, output_index: outputIndex, arguments: argumentsText });
        const final = { ...added, arguments: argumentsText, status: 'completed' };
        events.push({ type: 'response.output_item.done', output_index: outputIndex, item: final });
        done.push(final);
        break;
      }
    }
  });
  const inputTokens = response.usage?.inputTokens ?? 100;
  const outputTokens = response.usage?.outputTokens ?? 20;
  events.push({
    type: 'response.completed',
    response: {
      ...base,
      status: 'completed',
      output: done,
      usage: {
        input_tokens: inputTokens,
        input_tokens_details: { cached_tokens: 0 },
        output_tokens: outputTokens,
        output_tokens_details: { reasoning_tokens: response.usage?.reasoningTokens ?? 0 },
        total_tokens: inputTokens + outputTokens,
      },
    },
  });
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
 * Start a fake OpenAI API (Responses and Chat Completions) on `127.0.0.1`.
 *
 * @remarks
 * - `POST …/responses` is answered from `script`: a queue of {@link FakeOpenAIResponse}s (then
 *   `fallback`), or a function of the call. A response streams as `response.created`,
 *   `response.in_progress`, then per item `response.output_item.added`, its deltas
 *   (`response.output_text.delta`, `response.reasoning_summary_text.delta`,
 *   `response.function_call_arguments.delta`) and `response.output_item.done`, and finally
 *   `response.completed` with usage.
 * - `POST …/chat/completions` is answered from the same script: with `stream: true` as
 *   `chat.completion.chunk` events (`data: …` lines; the role, `reasoning_content`, `content` and
 *   `tool_calls` deltas, a chunk with the finish reason — `tool_calls` or `stop` — a usage chunk,
 *   then `data: [DONE]`), else one `chat.completion` body. A `shell` item calls the request's
 *   `bash` tool (OpenCode's) with `{ command, description }`.
 * - An error response is the API's JSON error body with its status (Codex retries 429/5xx with
 *   backoff; use 400 for an immediate failure).
 * - `GET …/models` answers an empty model list; any other path answers `200 {}` (harmless for
 *   startup probes). Every request is recorded in `requests`.
 * @public
 */
export async function createFakeOpenAIServer(script: FakeOpenAIScript = [], options: FakeOpenAIServerOptions = {}): Promise<FakeOpenAIServer> {
  if (typeof script !== 'function' && !Array.isArray(script)) {
    throw new InvalidArgumentError('createFakeOpenAIServer: script must be an array of responses or a function');
  }
  const clock = options.clock ?? createSystemClock();
  const fallback = options.fallback ?? DEFAULT_FALLBACK;
  const { pick, queue } = createScriptPicker<FakeOpenAICall, FakeOpenAIResponse>(script, fallback);
  let modelCalls = 0;
  // Answers run only once the server below listens, so `server` is set by then.
  const sleep = (ms: number): Promise<void> => server.sleep(ms);

  /** The scripted answer, or true when an error answer was written already. */
  const scripted = async (call: FakeOpenAICall, request: FakeOpenAIRequest, res: ServerResponse): Promise<Extract<FakeOpenAIResponse, { output: unknown }> | true> => {
    const response = await pick(call);
    if (response.kind === 'error') {
      const body = { error: { message: response.message ?? 'scripted error', type: response.code ?? 'invalid_request_error', code: response.code ?? null, param: null } };
      res.writeHead(response.status, { 'content-type': 'application/json', 'x-request-id': `req_fake_${request.seq}` });
      res.end(JSON.stringify(body));
      return true;
    }
    await sleep(response.holdMs ?? 0);
    return res.destroyed ? true : response;
  };

  const answerResponses = async (request: FakeOpenAIRequest, res: ServerResponse): Promise<void> => {
    const call = describeCall(request, modelCalls++);
    const response = await scripted(call, request, res);
    if (response === true) return;
    const id = `resp_fake_${request.seq}`;
    const events = responseEvents(response, call, id);
    if (call.body.stream === false) {
      const completed = asObject(events.at(-1)?.response);
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_fake_${request.seq}` });
      res.end(JSON.stringify({ ...completed }));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': `req_fake_${request.seq}`,
    });
    let sequence = 0;
    for (const event of events) {
      if (res.destroyed) return;
      res.write(`event: ${String(event.type)}\ndata: ${JSON.stringify({ ...event, sequence_number: sequence++ })}\n\n`);
      await sleep(response.eventDelayMs ?? 0);
    }
    res.end();
  };

  const answerChat = async (request: FakeOpenAIRequest, res: ServerResponse): Promise<void> => {
    const call = describeChatCall(request, modelCalls++);
    const response = await scripted(call, request, res);
    if (response === true) return;
    const id = `chatcmpl_fake_${request.seq}`;
    if (call.body.stream !== true) {
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': `req_fake_${request.seq}` });
      res.end(JSON.stringify(chatCompletion(response, call, id)));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-request-id': `req_fake_${request.seq}`,
    });
    for (const chunk of chatChunks(response, call, id)) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      await sleep(response.eventDelayMs ?? 0);
    }
    if (!res.destroyed) res.end('data: [DONE]\n\n');
  };

  const server = await startScriptedHttpServer<FakeOpenAIRequest>({
    clock,
    port: options.port,
    onRequest: options.onRequest,
    name: 'fake OpenAI server',
    internalErrorBody: (message) => ({ error: { message, type: 'server_error' } }),
    async route(request, res) {
      const path = request.path;
      if (request.method === 'POST' && RESPONSES_PATH.test(path)) {
        await answerResponses(request, res);
        return;
      }
      if (request.method === 'POST' && CHAT_COMPLETIONS_PATH.test(path)) {
        await answerChat(request, res);
        return;
      }
      if (request.method === 'GET' && /\/models$/.test(path)) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [], models: [] }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(request.method === 'HEAD' ? undefined : '{}');
    },
  });
  const { port, requests } = server;

  return {
    url: `http://127.0.0.1:${port}`,
    baseUrl: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    responseRequests: () => requests.filter((r) => r.method === 'POST' && RESPONSES_PATH.test(r.path)),
    chatRequests: () => requests.filter((r) => r.method === 'POST' && CHAT_COMPLETIONS_PATH.test(r.path)),
    push(...responses) {
      server.assertOpen();
      queue.push(...responses);
    },
    close: () => server.close(),
  };
}
