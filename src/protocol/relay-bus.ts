/**
 * Relay protocol v1: the WebSocket bus frames, both directions (`docs/protocol.md` §6).
 */
import * as v from 'valibot';
import { FIELD_LIMITS as L, count, epochMs, jsonObject, nonEmpty, opt, str } from './relay-fields.js';
import { RelayMessageSchema } from './relay-messages.js';
import { PermissionBehaviorSchema } from './relay-permissions.js';

/**
 * Schema of {@link WelcomeFrame}.
 * @public
 */
export const WelcomeFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('welcome'),
  /** Protocol version the server speaks. */
  protocol: v.number(),
  /** Agent the connection is authenticated as. */
  agentId: nonEmpty(L.id),
  /** Server time (epoch ms). */
  serverTime: epochMs,
});

/**
 * `welcome`: the server accepted the `hello`; the link is up.
 * @public
 */
export type WelcomeFrame = v.InferOutput<typeof WelcomeFrameSchema>;

/**
 * Schema of {@link MessageNewFrame}.
 * @public
 */
export const MessageNewFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('message.new'),
  /** The message, as `pollUnread` would return it. */
  message: RelayMessageSchema,
});

/**
 * `message.new`: a message arrived for the agent.
 * @public
 */
export type MessageNewFrame = v.InferOutput<typeof MessageNewFrameSchema>;

/**
 * Schema of {@link CommandFrame}; `args` defaults to `{}`.
 * @public
 */
export const CommandFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('command'),
  /** Correlation id, echoed in the result. */
  id: nonEmpty(L.id),
  /** Command name. */
  name: nonEmpty(L.label),
  /** Arguments (plain JSON object). */
  args: v.optional(jsonObject, () => ({})),
});

/**
 * `command`: the relay asks the runner to do something; answered by a `command.result` with the same id.
 * @remarks Known names: `stop`, `interrupt`, `restart`, `set_log_level` (`{ level }`),
 * `permission_decision`. Unknown names are answered with `ok: false`.
 * @public
 */
export type CommandFrame = v.InferOutput<typeof CommandFrameSchema>;

/**
 * Schema of {@link PermissionDecisionFrame}.
 * @public
 */
export const PermissionDecisionFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('permission.decision'),
  /** Relay id of the request. */
  permissionId: nonEmpty(L.id),
  /** Runner-side request id. */
  requestId: nonEmpty(L.id),
  /** Allow or deny. */
  behavior: PermissionBehaviorSchema,
  /** Reason shown to the agent. */
  message: opt(str(L.line)),
});

/**
 * `permission.decision`: a user decided a permission request.
 * @public
 */
export type PermissionDecisionFrame = v.InferOutput<typeof PermissionDecisionFrameSchema>;

/**
 * Schema of {@link BusErrorFrame}.
 * @public
 */
export const BusErrorFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('error'),
  /** Stable code (`unauthorized`, `protocol_mismatch`, `bad_frame`, `hello_timeout`, …). */
  code: str(L.id),
  /** One-line reason. */
  message: str(L.line),
  /** True when the server is about to close the connection. */
  fatal: opt(v.boolean()),
});

/**
 * `error`: the server refused something on the bus. Fatal errors are followed by a close.
 * @public
 */
export type BusErrorFrame = v.InferOutput<typeof BusErrorFrameSchema>;

/**
 * Schema of {@link PongFrame}.
 * @public
 */
export const PongFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('pong'),
  /** The ping's id. */
  id: str(L.id),
  /** Server time (epoch ms). */
  serverTime: epochMs,
});

/**
 * `pong`: answer to a `ping`.
 * @public
 */
export type PongFrame = v.InferOutput<typeof PongFrameSchema>;

/**
 * Schema of {@link ServerFrame}: every frame the server sends, by `type`.
 * @public
 */
export const ServerFrameSchema = v.variant('type', [
  WelcomeFrameSchema,
  MessageNewFrameSchema,
  CommandFrameSchema,
  PermissionDecisionFrameSchema,
  BusErrorFrameSchema,
  PongFrameSchema,
]);

/**
 * Every frame the server sends.
 * @public
 */
export type ServerFrame = v.InferOutput<typeof ServerFrameSchema>;

/**
 * Schema of {@link HelloFrame}.
 * @public
 */
export const HelloFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('hello'),
  /** Protocol version the runner speaks. */
  protocol: v.number(),
  /** Agent id. */
  agentId: nonEmpty(L.id),
  /** Current agent token (a secret). */
  token: nonEmpty(L.token),
});

/**
 * `hello`: first frame on every connection; authenticates with the current token.
 * @public
 */
export type HelloFrame = v.InferOutput<typeof HelloFrameSchema>;

/**
 * Schema of {@link RunnerStatusSnapshot}; fields it does not name are kept (plain JSON).
 * @public
 */
export const RunnerStatusSnapshotSchema = v.looseObject({
  /** Coarse state. */
  state: v.picklist(['starting', 'busy', 'idle', 'stalled', 'error', 'offline']),
  /** Epoch ms of the last provider activity. */
  lastActivityAt: opt(epochMs),
  /** Context window usage. */
  context: opt(v.object({ usedTokens: count, windowTokens: opt(count) })),
  /** Open subagents. */
  subagents: opt(count),
  /** Short human detail. */
  detail: opt(str(L.line)),
});

/**
 * Runner status as published on the bus (last-wins, never queued). Anything else the runner
 * wants a dashboard to see rides along as extra plain-JSON fields.
 * @public
 */
export type RunnerStatusSnapshot = v.InferOutput<typeof RunnerStatusSnapshotSchema>;

/**
 * Schema of {@link StatusFrame}.
 * @public
 */
export const StatusFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('status'),
  /** The status. */
  status: RunnerStatusSnapshotSchema,
});

/**
 * `status`: the runner's current status (the server keeps the last one per agent).
 * @public
 */
export type StatusFrame = v.InferOutput<typeof StatusFrameSchema>;

/**
 * Schema of {@link TimelineFrame}.
 * @public
 */
export const TimelineFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('timeline'),
  /** Event name. */
  event: nonEmpty(L.id),
  /** Epoch ms it happened. */
  at: epochMs,
  /** Event details (plain JSON). */
  data: opt(jsonObject),
});

/**
 * `timeline`: an informational runner event (e.g. `provider.restart_decision`).
 * @public
 */
export type TimelineFrame = v.InferOutput<typeof TimelineFrameSchema>;

/**
 * Schema of {@link CommandResultFrame}: `ok: true` with an optional `result`, or `ok: false` with an `error`.
 * @public
 */
export const CommandResultFrameSchema = v.variant('ok', [
  v.object({
    /** Frame type discriminator. */
    type: v.literal('command.result'),
    /** The command's id. */
    id: nonEmpty(L.id),
    /** The command succeeded. */
    ok: v.literal(true),
    /** What it returned (plain JSON). */
    result: v.optional(v.unknown()),
  }),
  v.object({
    /** Frame type discriminator. */
    type: v.literal('command.result'),
    /** The command's id. */
    id: nonEmpty(L.id),
    /** The command failed. */
    ok: v.literal(false),
    /** Why. */
    error: str(8000),
  }),
]);

/**
 * `command.result`: the answer to a `command`.
 * @public
 */
export type CommandResultFrame = v.InferOutput<typeof CommandResultFrameSchema>;

/**
 * Schema of {@link PingFrame}.
 * @public
 */
export const PingFrameSchema = v.object({
  /** Frame type discriminator. */
  type: v.literal('ping'),
  /** Correlation id. */
  id: nonEmpty(L.id),
});

/**
 * `ping`: liveness probe; the server answers `pong` with the same id.
 * @public
 */
export type PingFrame = v.InferOutput<typeof PingFrameSchema>;

/**
 * Schema of {@link RunnerFrame}: every frame the runner sends, by `type`.
 * @public
 */
export const RunnerFrameSchema = v.variant('type', [
  HelloFrameSchema,
  StatusFrameSchema,
  TimelineFrameSchema,
  CommandResultFrameSchema,
  PingFrameSchema,
]);

/**
 * Every frame the runner sends.
 * @public
 */
export type RunnerFrame = v.InferOutput<typeof RunnerFrameSchema>;
