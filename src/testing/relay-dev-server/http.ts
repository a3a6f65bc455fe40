/**
 * HTTP plumbing of the reference relay: refusals as {@link HttpFailure}, bodies read with a cap
 * and checked with the protocol schemas (`src/protocol/`), JSON answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RawData } from 'ws';
import type { GenericSchema, InferOutput } from 'valibot';
import { checkValue, exceedsBytes, type WireShape } from '../../protocol/relay-codec.js';
import { readRequestBody } from '../../adapters/http-body.js';
import { describeError } from '../../shared/describe-error.js';

/** A request the server refuses; carries the HTTP status, a stable code and a one-line reason. */
export class HttpFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message.replace(/\s*\n\s*/g, ' '));
  }
}

/** `value` checked against `schema`, or a 400 `invalid_body` naming the field under `root`. */
export function checked<S extends GenericSchema>(schema: S, value: unknown, root: string): InferOutput<S> {
  const result = checkValue(schema, value, root);
  if (!result.ok) throw new HttpFailure(400, 'invalid_body', result.reason);
  return result.value;
}

/**
 * A request body decoded with its protocol shape: 413 over the shape's byte cap, 400
 * `invalid_json` when it is not JSON, 400 `invalid_body` naming the field when it does not match.
 * Returns the checked value and the parsed JSON as sent (event payloads are stored as received).
 */
export function decodeBody<S extends GenericSchema>(wire: WireShape<S>, raw: string): { value: InferOutput<S>; sent: Record<string, unknown> } {
  if (raw.length === 0) throw new HttpFailure(400, 'invalid_json', 'request body is empty; send a JSON object');
  if (exceedsBytes(raw, wire.maxBytes)) throw new HttpFailure(413, 'body_too_large', `body exceeds ${wire.maxBytes} bytes`);
  if (nestedDeeperThan(raw, MAX_JSON_DEPTH)) {
    throw new HttpFailure(400, 'invalid_json', `JSON nested deeper than ${MAX_JSON_DEPTH} levels`);
  }
  let sent: unknown;
  try {
    sent = JSON.parse(raw) as unknown;
  } catch (error) {
    throw new HttpFailure(400, 'invalid_json', `malformed JSON: ${(error as Error).message.split('\n')[0]!.slice(0, 120)}`);
  }
  return { value: checked(wire.schema, sent, 'body'), sent: sent as Record<string, unknown> };
}

/** Deepest JSON nesting accepted: deeper bodies would overflow the stack of recursive checks and copies. */
export const MAX_JSON_DEPTH = 128;

/** Whether the JSON text nests arrays/objects deeper than `max` (strings are skipped; no parse needed). */
export function nestedDeeperThan(raw: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A path segment percent-decoded, or a 400 `invalid_path` when its encoding is broken (never a 500). */
export function decodeParam(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpFailure(400, 'invalid_path', `malformed percent-encoding in path segment "${segment.slice(0, 80)}"`);
  }
}

/** Any error as a refusal: an `HttpFailure` as is, anything else a 500 with a one-line reason. */
export function toFailure(error: unknown): HttpFailure {
  if (error instanceof HttpFailure) return error;
  const message = describeError(error);
  return new HttpFailure(500, 'internal', `internal error: ${message.split('\n')[0]!.slice(0, 200)}`);
}

/** The request body as text; a 413 past `max` bytes. */
export async function readBody(req: IncomingMessage, max: number): Promise<string> {
  const body = await readRequestBody(req, max);
  if (!body.ok) throw new HttpFailure(413, 'body_too_large', `request body exceeds ${max} bytes`);
  return body.text;
}

/** What a route answers: a JSON body, or raw bytes. */
export interface RouteResponse {
  status: number;
  body?: unknown;
  raw?: { contentType: string; data: Uint8Array };
}

/** Write a route's answer (nothing when the response is already gone). */
export function respond(res: ServerResponse, response: RouteResponse, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  if (response.raw) {
    res.writeHead(response.status, { 'Content-Type': response.raw.contentType, 'Content-Length': response.raw.data.length, ...extraHeaders });
    res.end(Buffer.from(response.raw.data));
    return;
  }
  const text = response.body === undefined ? '' : JSON.stringify(response.body);
  res.writeHead(response.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...extraHeaders,
  });
  res.end(text);
}

/** A ws message as text. */
export function rawToString(raw: RawData): string {
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  if (raw instanceof ArrayBuffer) return Buffer.from(raw).toString('utf8');
  return raw.toString('utf8');
}
