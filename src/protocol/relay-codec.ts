/**
 * Decoding relay bodies and frames with the protocol schemas, without ever throwing: a byte cap
 * per body or frame type (checked on the raw text, before the JSON is trusted), then the schema,
 * then a one-line reason naming the offending field. Shared by the fetch and ws adapters and the
 * reference relay, so all three accept and refuse exactly the same things.
 */
import * as v from 'valibot';
import {
  DeleteAgentResultSchema,
  EmptyBodySchema,
  HeartbeatResultSchema,
  RegisterAgentInputSchema,
  RegisterAgentResultSchema,
  RelayErrorResponseSchema,
  TokenGrantSchema,
} from './relay-agents.js';
import {
  MarkReadInputSchema,
  MarkReadResultSchema,
  ObligationsSchema,
  SendMessageInputSchema,
  SendMessageResultSchema,
  UnreadMessagesSchema,
} from './relay-messages.js';
import {
  InsightInputSchema,
  InsightResultSchema,
  RelayBatchEnvelopeSchema,
  RelayBatchResultSchema,
  TaskStatusRequestSchema,
  TaskStatusResultSchema,
} from './relay-events.js';
import { RelayPermissionRequestInputSchema, RelayPermissionResponseSchema } from './relay-permissions.js';
import {
  BusErrorFrameSchema,
  CommandFrameSchema,
  CommandResultFrameSchema,
  HelloFrameSchema,
  MessageNewFrameSchema,
  PermissionDecisionFrameSchema,
  PingFrameSchema,
  PongFrameSchema,
  StatusFrameSchema,
  TimelineFrameSchema,
  WelcomeFrameSchema,
  type RunnerFrame,
  type ServerFrame,
} from './relay-bus.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A schema with the byte cap of the JSON text it may arrive as. */
export interface WireShape<S extends v.GenericSchema = v.GenericSchema> {
  /** The schema. */
  readonly schema: S;
  /** Largest accepted JSON text, in UTF-8 bytes. */
  readonly maxBytes: number;
}

const shape = <S extends v.GenericSchema>(schema: S, maxBytes: number): WireShape<S> => ({ schema, maxBytes });

/**
 * Every HTTP body of protocol v1 with its byte cap (`docs/protocol.md`, "Limits"). A message can
 * carry 256 Ki characters, up to 6 bytes each once JSON-escaped, hence the 2 MiB for message bodies.
 */
export const RELAY_HTTP_SHAPES = {
  'error.response': shape(RelayErrorResponseSchema, 16 * KiB),
  'register.request': shape(RegisterAgentInputSchema, 256 * KiB),
  'register.response': shape(RegisterAgentResultSchema, 512 * KiB),
  'heartbeat.request': shape(EmptyBodySchema, 4 * KiB),
  'heartbeat.response': shape(HeartbeatResultSchema, 4 * KiB),
  'token.request': shape(EmptyBodySchema, 4 * KiB),
  'token.response': shape(TokenGrantSchema, 16 * KiB),
  'delete.response': shape(DeleteAgentResultSchema, 4 * KiB),
  'message.request': shape(SendMessageInputSchema, 2 * MiB),
  'message.response': shape(SendMessageResultSchema, 4 * MiB),
  'batch.request': shape(RelayBatchEnvelopeSchema, 16 * MiB),
  'batch.response': shape(RelayBatchResultSchema, 4 * MiB),
  'unread.response': shape(UnreadMessagesSchema, 64 * MiB),
  'markRead.request': shape(MarkReadInputSchema, 1 * MiB),
  'markRead.response': shape(MarkReadResultSchema, 4 * KiB),
  'obligations.response': shape(ObligationsSchema, 16 * MiB),
  'taskStatus.request': shape(TaskStatusRequestSchema, 64 * KiB),
  'taskStatus.response': shape(TaskStatusResultSchema, 64 * KiB),
  'insight.request': shape(InsightInputSchema, 1 * MiB),
  'insight.response': shape(InsightResultSchema, 4 * KiB),
  'permission.request': shape(RelayPermissionRequestInputSchema, 1 * MiB),
  'permission.response': shape(RelayPermissionResponseSchema, 256 * KiB),
} as const;

/** Name of an HTTP body shape. */
export type RelayHttpShapeName = keyof typeof RELAY_HTTP_SHAPES;

/** Server → runner frames by type, with their byte caps. */
export const SERVER_FRAME_SHAPES: ReadonlyMap<string, WireShape> = new Map<string, WireShape>([
  ['welcome', shape(WelcomeFrameSchema, 16 * KiB)],
  ['message.new', shape(MessageNewFrameSchema, 4 * MiB)],
  ['command', shape(CommandFrameSchema, 256 * KiB)],
  ['permission.decision', shape(PermissionDecisionFrameSchema, 64 * KiB)],
  ['error', shape(BusErrorFrameSchema, 16 * KiB)],
  ['pong', shape(PongFrameSchema, 4 * KiB)],
]);

/** Runner → server frames by type, with their byte caps. */
export const RUNNER_FRAME_SHAPES: ReadonlyMap<string, WireShape> = new Map<string, WireShape>([
  ['hello', shape(HelloFrameSchema, 16 * KiB)],
  ['status', shape(StatusFrameSchema, 64 * KiB)],
  ['timeline', shape(TimelineFrameSchema, 256 * KiB)],
  ['command.result', shape(CommandResultFrameSchema, 1 * MiB)],
  ['ping', shape(PingFrameSchema, 4 * KiB)],
]);

/** Why a body or frame was refused. */
export type DecodeProblem = 'too_large' | 'not_json' | 'invalid';

/** The outcome of a decode: the value (defaults applied, unknown fields stripped), or why not. */
export type Decoded<T> = { ok: true; value: T } | { ok: false; problem: DecodeProblem; reason: string };

/** True when `text` is more than `maxBytes` bytes of UTF-8, counted without allocating. */
export function exceedsBytes(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return true; // every UTF-16 unit is at least one byte
  if (text.length * 3 <= maxBytes) return false; // and at most three
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : c >= 0xd800 && c <= 0xdbff ? 4 : c >= 0xdc00 && c <= 0xdfff ? 0 : 3;
    if (bytes > maxBytes) return true;
  }
  return false;
}

/** Check an already-parsed value against a schema; `root` names it in the reason (`body`, `items[3].payload`). */
export function checkValue<S extends v.GenericSchema>(schema: S, value: unknown, root: string): Decoded<v.InferOutput<S>> {
  // valibot's object schemas accept arrays (they are objects); the protocol never sends one as a body.
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problem: 'invalid', reason: `${root} must be a JSON object` };
  }
  const result = v.safeParse(schema, value, { abortEarly: true });
  if (result.success) return { ok: true, value: result.output };
  return { ok: false, problem: 'invalid', reason: describeIssue(result.issues[0], root) };
}

/** Decode the JSON text of an HTTP body: byte cap, then JSON, then the schema. */
export function decodeText<S extends v.GenericSchema>(wire: WireShape<S>, text: string, root: string): Decoded<v.InferOutput<S>> {
  if (exceedsBytes(text, wire.maxBytes)) {
    return { ok: false, problem: 'too_large', reason: `${root} exceeds ${wire.maxBytes} bytes` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text) as unknown;
  } catch (error) {
    return { ok: false, problem: 'not_json', reason: `${root} is not JSON: ${oneLine((error as Error).message, 120)}` };
  }
  return checkValue(wire.schema, value, root);
}

/**
 * A decoded frame, or why it was refused: `type` when the frame named one, `value` when it was a
 * JSON object (so a relay can still read a refused hello's `protocol`).
 */
export type FrameDecoded<F> =
  | { ok: true; frame: F }
  | {
      ok: false;
      type: string | undefined;
      unknownType: boolean;
      problem: DecodeProblem;
      reason: string;
      value?: Readonly<Record<string, unknown>>;
    };

const largest = (shapes: ReadonlyMap<string, WireShape>) => Math.max(...[...shapes.values()].map((s) => s.maxBytes));
const MAX_SERVER_FRAME = largest(SERVER_FRAME_SHAPES);
const MAX_RUNNER_FRAME = largest(RUNNER_FRAME_SHAPES);

function decodeFrame<F>(shapes: ReadonlyMap<string, WireShape>, max: number, text: string): FrameDecoded<F> {
  let value: unknown;
  const fail = (type: string | undefined, problem: DecodeProblem, reason: string, unknownType = false): FrameDecoded<F> => {
    const failure: FrameDecoded<F> = { ok: false, type, unknownType, problem, reason };
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) failure.value = value as Record<string, unknown>;
    return failure;
  };
  // The largest cap first, before parsing anything; the frame's own cap once its type is known.
  if (exceedsBytes(text, max)) return fail(undefined, 'too_large', `frame exceeds ${max} bytes`);
  try {
    value = JSON.parse(text) as unknown;
  } catch {
    return fail(undefined, 'not_json', 'frame is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail(undefined, 'invalid', 'frame is not a JSON object');
  const type = (value as { type?: unknown }).type;
  if (typeof type !== 'string') return fail(undefined, 'invalid', 'frame.type must be a string');
  const wire = shapes.get(type);
  if (!wire) return fail(oneLine(type, 40), 'invalid', `unknown frame type "${oneLine(type, 40)}"`, true);
  if (exceedsBytes(text, wire.maxBytes)) return fail(type, 'too_large', `frame exceeds ${wire.maxBytes} bytes`);
  const checked = checkValue(wire.schema, value, 'frame');
  return checked.ok ? { ok: true, frame: checked.value as F } : fail(type, checked.problem, checked.reason);
}

/** Decode a frame the server sent (what the runner's bus receives). Never throws. */
export function decodeServerFrame(text: string): FrameDecoded<ServerFrame> {
  return decodeFrame<ServerFrame>(SERVER_FRAME_SHAPES, MAX_SERVER_FRAME, text);
}

/** Decode a frame a runner sent (what the relay's bus receives). Never throws. */
export function decodeRunnerFrame(text: string): FrameDecoded<RunnerFrame> {
  return decodeFrame<RunnerFrame>(RUNNER_FRAME_SHAPES, MAX_RUNNER_FRAME, text);
}

/** One line naming the field and what is wrong with it: `body.to must be a string`. */
export function describeIssue(issue: v.BaseIssue<unknown>, root: string): string {
  let path = root;
  for (const item of issue.path ?? []) {
    const key = (item as { key?: unknown }).key;
    path += typeof key === 'number' ? `[${key}]` : `.${oneLine(String(key), 60)}`;
  }
  return oneLine(`${path} ${problemOf(issue)}`, 300);
}

function problemOf(issue: v.BaseIssue<unknown>): string {
  const requirement = (issue as { requirement?: unknown }).requirement;
  if (issue.kind === 'schema' && issue.received === 'undefined') return 'is required';
  switch (issue.type) {
    case 'string':
    case 'number':
    case 'boolean':
      return `must be a ${issue.type}`;
    case 'object':
    case 'loose_object':
    case 'record':
      return 'must be a JSON object';
    case 'array':
      return 'must be an array';
    case 'literal':
    case 'picklist':
    case 'variant':
      return `must be one of ${(issue.expected ?? '').replace(/[()"]/g, '').split(' | ').join(', ')}`;
    case 'max_length':
      return `must have at most ${String(requirement)} ${Array.isArray(issue.input) ? 'items' : 'characters'}`;
    case 'min_length':
      return requirement === 1 && typeof issue.input === 'string' ? 'must not be empty' : `must have at least ${String(requirement)} items`;
    case 'regex':
      return `must match ${requirement instanceof RegExp ? requirement.source : String(requirement)}`;
    case 'min_value':
      return `must be at least ${String(requirement)}`;
    case 'max_value':
      return `must be at most ${String(requirement)}`;
    case 'finite':
      return 'must be a finite number';
    case 'integer':
      return 'must be an integer';
    default:
      return issue.message;
  }
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s*\n\s*/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
