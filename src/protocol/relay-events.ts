/**
 * Relay protocol v1: the ordered batch route and the events it carries (task status, insights,
 * hook failures), plus their single-event routes (`docs/protocol.md` §5 "Ordered batch", "Tasks", "Insights").
 */
import * as v from 'valibot';
import { FIELD_LIMITS as L, epochMs, jsonObject, nonEmpty, opt, str } from './relay-fields.js';
import { RelayErrorBodySchema } from './relay-agents.js';

/**
 * Schema of {@link RelayEventKind}.
 * @public
 */
export const RelayEventKindSchema = v.picklist(['message', 'session', 'task_status', 'insight', 'hook_fatal']);

/**
 * Kinds the ordered batch route accepts.
 * @public
 */
export type RelayEventKind = v.InferOutput<typeof RelayEventKindSchema>;

/**
 * Schema of {@link RelayBatchItem}. `kind` is any short string on purpose: a kind this relay
 * does not know is a per-item 422, not a refusal of the whole batch.
 * @public
 */
export const RelayBatchItemSchema = v.object({
  /** Event kind (one of {@link RelayEventKind} for this relay). */
  kind: nonEmpty(L.label),
  /** Stable across retries; deduped per agent. */
  idempotencyKey: nonEmpty(L.idempotencyKey),
  /** Epoch ms the event happened. */
  occurredAt: epochMs,
  /** Kind-specific body (plain JSON), checked against the kind's payload schema. */
  payload: v.unknown(),
});

/**
 * One item of an ordered batch (`POST /v1/events/batch`).
 * @remarks Payload schemas per kind: `message` → {@link MessageEventPayloadSchema}, `session` →
 * {@link SessionEventPayloadSchema}, `task_status` → {@link TaskStatusPayloadSchema}, `insight` →
 * {@link InsightPayloadSchema}, `hook_fatal` → {@link HookFatalPayloadSchema}.
 * @public
 */
export type RelayBatchItem = v.InferOutput<typeof RelayBatchItemSchema>;

/**
 * Schema of {@link RelayBatchRequest}. The relay reads the envelope with
 * {@link RelayBatchEnvelopeSchema} and each item on its own, so one bad item is a per-item
 * result rather than a refusal of the whole batch.
 * @public
 */
export const RelayBatchRequestSchema = v.object({
  /** The events, in order (at most 1000). */
  items: v.pipe(v.array(RelayBatchItemSchema), v.maxLength(L.items)),
});

/**
 * Body of `POST /v1/events/batch`.
 * @public
 */
export type RelayBatchRequest = v.InferOutput<typeof RelayBatchRequestSchema>;

/**
 * Schema of the batch body as the relay reads it first: an array of at most 1000 items, each
 * then checked with {@link RelayBatchItemSchema}.
 * @public
 */
export const RelayBatchEnvelopeSchema = v.object({
  /** The events, unchecked until each is applied. */
  items: v.pipe(v.array(v.unknown()), v.maxLength(L.items)),
});

/**
 * Schema of {@link RelayBatchItemResult}.
 * @public
 */
export const RelayBatchItemResultSchema = v.object({
  /** Index of the item in the request. */
  index: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** 201 stored, 200 duplicate, 4xx permanent rejection, 429/5xx retryable (the batch stopped here). */
  status: v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(599)),
  /** True when the idempotency key had been seen before. */
  duplicate: opt(v.boolean()),
  /** Id of what was stored (message id, event id). */
  id: opt(str(L.id)),
  /** Error code and one-line reason for a non-2xx status. */
  error: opt(RelayErrorBodySchema),
  /** Seconds before retrying, on 429/503. */
  retryAfterSeconds: opt(v.pipe(v.number(), v.finite(), v.minValue(0))),
});

/**
 * The relay's answer for one attempted batch item.
 * @public
 */
export type RelayBatchItemResult = v.InferOutput<typeof RelayBatchItemResultSchema>;

/**
 * Schema of {@link RelayBatchResult}.
 * @public
 */
export const RelayBatchResultSchema = v.object({
  /** Results of the attempted items, in request order. */
  results: v.pipe(v.array(RelayBatchItemResultSchema), v.maxLength(L.items)),
  /** Items after the stopping item, which the relay did not look at. */
  notAttempted: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
});

/**
 * The relay's answer to an ordered batch.
 * @public
 */
export type RelayBatchResult = v.InferOutput<typeof RelayBatchResultSchema>;

/**
 * Schema of {@link TaskStatus}.
 * @public
 */
export const TaskStatusSchema = v.picklist(['pending', 'in_progress', 'completed', 'failed', 'cancelled']);

/**
 * Task states.
 * @public
 */
export type TaskStatus = v.InferOutput<typeof TaskStatusSchema>;

/**
 * Schema of a `task_status` event payload.
 * @public
 */
export const TaskStatusPayloadSchema = v.object({
  /** Task id. */
  taskId: nonEmpty(L.id),
  /** New state. */
  status: TaskStatusSchema,
  /** Message that assigned or completed the task. */
  messageId: opt(str(L.id)),
  /** Short note for the dashboard. */
  note: opt(str(2000)),
});

/**
 * Payload of a `task_status` event.
 * @public
 */
export type TaskStatusPayload = v.InferOutput<typeof TaskStatusPayloadSchema>;

/**
 * Schema of {@link TaskStatusInput}. On `POST /v1/tasks/:taskId/status` the path's task id wins.
 * @public
 */
export const TaskStatusInputSchema = v.object({
  ...TaskStatusPayloadSchema.entries,
  /** Epoch ms it happened. */
  occurredAt: epochMs,
  /** Stable across retries. */
  idempotencyKey: nonEmpty(L.idempotencyKey),
});

/**
 * A task status update.
 * @public
 */
export type TaskStatusInput = v.InferOutput<typeof TaskStatusInputSchema>;

/**
 * Schema of {@link TaskStatusRequest}: the body of `POST /v1/tasks/:taskId/status`, whose path
 * carries the task id (a `taskId` in the body is ignored).
 * @public
 */
export const TaskStatusRequestSchema = v.omit(TaskStatusInputSchema, ['taskId']);

/**
 * Body of `POST /v1/tasks/:taskId/status`.
 * @public
 */
export type TaskStatusRequest = v.InferOutput<typeof TaskStatusRequestSchema>;

/**
 * Schema of {@link RelayTask}.
 * @public
 */
export const RelayTaskSchema = v.object({
  /** Task id. */
  taskId: nonEmpty(L.id),
  /** Agent that last updated it. */
  agentId: nonEmpty(L.id),
  /** Current state. */
  status: TaskStatusSchema,
  /** Message id of the last update, if any. */
  messageId: opt(str(L.id)),
  /** Last note. */
  note: opt(str(2000)),
  /** Epoch ms of the last update (its `occurredAt`). */
  updatedAt: epochMs,
});

/**
 * A task as stored on the relay.
 * @public
 */
export type RelayTask = v.InferOutput<typeof RelayTaskSchema>;

/**
 * Schema of {@link TaskStatusResult}.
 * @public
 */
export const TaskStatusResultSchema = v.object({
  /** The task after the update. */
  task: RelayTaskSchema,
  /** True when the idempotency key had been seen before. */
  duplicate: v.boolean(),
});

/**
 * The relay's answer to a task status update.
 * @public
 */
export type TaskStatusResult = v.InferOutput<typeof TaskStatusResultSchema>;

/**
 * Schema of an `insight` event payload.
 * @public
 */
export const InsightPayloadSchema = v.object({
  /** Observation type (e.g. `context_ratio`). */
  type: nonEmpty(100),
  /** Observation data (plain JSON). */
  data: jsonObject,
});

/**
 * Payload of an `insight` event.
 * @public
 */
export type InsightPayload = v.InferOutput<typeof InsightPayloadSchema>;

/**
 * Schema of {@link InsightInput} (`POST /v1/insights`).
 * @public
 */
export const InsightInputSchema = v.object({
  ...InsightPayloadSchema.entries,
  /** Epoch ms it happened. */
  occurredAt: epochMs,
  /** Stable across retries. */
  idempotencyKey: nonEmpty(L.idempotencyKey),
});

/**
 * An insight observation (e.g. `context_ratio`).
 * @public
 */
export type InsightInput = v.InferOutput<typeof InsightInputSchema>;

/**
 * Schema of {@link InsightResult}.
 * @public
 */
export const InsightResultSchema = v.object({
  /** Id of the stored observation. */
  id: nonEmpty(L.id),
  /** True when the idempotency key had been seen before. */
  duplicate: v.boolean(),
});

/**
 * The relay's answer to an insight.
 * @public
 */
export type InsightResult = v.InferOutput<typeof InsightResultSchema>;

/**
 * Schema of a `hook_fatal` event payload (a hook failure report; other fields are kept by the relay).
 * @public
 */
export const HookFatalPayloadSchema = v.object({
  /** Which hook failed. */
  hook: nonEmpty(L.id),
  /** What went wrong. */
  message: str(8000),
});

/**
 * Payload of a `hook_fatal` event.
 * @public
 */
export type HookFatalPayload = v.InferOutput<typeof HookFatalPayloadSchema>;
