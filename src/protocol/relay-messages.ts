/**
 * Relay protocol v1: messages, attachments, unread, mark read and reply obligations
 * (`docs/protocol.md` §5 "Messages", "Reply obligations", "Attachments").
 */
import * as v from 'valibot';
import { FIELD_LIMITS as L, count, epochMs, nonEmpty, opt, str } from './relay-fields.js';

/**
 * Schema of {@link RelayAttachment}.
 * @public
 */
export const RelayAttachmentSchema = v.object({
  /** Relay-assigned attachment id. */
  id: nonEmpty(L.id),
  /** File name as the sender gave it (unsanitised: sanitise before using it as a path). */
  name: str(1024),
  /** Size in bytes. */
  size: v.pipe(count, v.integer()),
  /** MIME type. */
  mediaType: str(255),
  /** Path of the download route, relative to the relay base URL (`/v1/attachments/<id>`). */
  url: str(1024),
});

/**
 * Metadata of a file attached to a message. The bytes are fetched with `RelayHttp.downloadAttachment`.
 * @public
 */
export type RelayAttachment = v.InferOutput<typeof RelayAttachmentSchema>;

/**
 * Schema of {@link RelayMessageKind}.
 * @public
 */
export const RelayMessageKindSchema = v.picklist(['message', 'session']);

/**
 * Message kinds. `message` is a conversation message; `session` is a session-mirror entry
 * (prompt echo, reply, reasoning, tool step) that is stored but never delivered to an inbox.
 * @public
 */
export type RelayMessageKind = v.InferOutput<typeof RelayMessageKindSchema>;

/**
 * Schema of {@link RelayMessage}. `attachments` defaults to `[]` and `expectsReply` to `false`,
 * so a receiver always sees complete objects.
 * @public
 */
export const RelayMessageSchema = v.object({
  /** Relay-assigned id (`msg_…`). */
  id: nonEmpty(L.id),
  /** Global arrival order on this relay. */
  seq: count,
  /** Kind of message. */
  kind: RelayMessageKindSchema,
  /** Sender: an agent name or a user name. */
  from: str(L.id),
  /** Recipient: an agent name or a user name (empty for session entries without one). */
  to: str(L.id),
  /** Text body. */
  body: str(L.messageBody),
  /** Id of the message this one answers. */
  replyTo: opt(str(L.id)),
  /** Task this message assigns or concerns. */
  taskId: opt(str(L.id)),
  /** True when the sender expects a reply (the recipient then has an obligation). */
  expectsReply: v.optional(v.boolean(), false),
  /** Epoch ms when the sender said it happened. */
  occurredAt: epochMs,
  /** Epoch ms when the relay stored it. */
  createdAt: epochMs,
  /** Session-mirror detail (`prompt`, `reply`, `reasoning`, `tool`, …), for `session` messages. */
  entry: opt(str(L.label)),
  /** Attachment metadata. */
  attachments: v.optional(v.pipe(v.array(RelayAttachmentSchema), v.maxLength(L.items)), []),
});

/**
 * A message stored on the relay.
 * @public
 */
export type RelayMessage = v.InferOutput<typeof RelayMessageSchema>;

/**
 * Schema of a `message` or `session` event payload: the fields of {@link SendMessageInput}
 * without the envelope (`kind`, `occurredAt`, `idempotencyKey`). `to` is optional here; a
 * `message` also passes {@link MessageEventPayloadSchema}.
 * @public
 */
export const SessionEventPayloadSchema = v.object({
  /** Recipient agent or user name. Required for `message`. */
  to: opt(str(L.id)),
  /** Text body (at most 256 Ki characters). */
  body: str(L.messageBody),
  /** Id of the message this answers; clears the sender's obligation for it. */
  replyTo: opt(str(L.id)),
  /** Task id. */
  taskId: opt(str(L.id)),
  /** Ask the recipient for an answer (creates an obligation when the recipient is an agent). */
  expectsReply: opt(v.boolean()),
  /** Session-mirror detail for `session` messages. */
  entry: opt(str(L.label)),
});

/**
 * Payload of a `session` event (batch item or single send).
 * @public
 */
export type SessionEventPayload = v.InferOutput<typeof SessionEventPayloadSchema>;

/**
 * Schema of a `message` event payload: like {@link SessionEventPayloadSchema} with `to` required.
 * @public
 */
export const MessageEventPayloadSchema = v.object({
  ...SessionEventPayloadSchema.entries,
  /** Recipient agent or user name. */
  to: nonEmpty(L.id),
});

/**
 * Payload of a `message` event (batch item or single send).
 * @public
 */
export type MessageEventPayload = v.InferOutput<typeof MessageEventPayloadSchema>;

/**
 * Schema of {@link SendMessageInput} (`POST /v1/messages`).
 * @public
 */
export const SendMessageInputSchema = v.object({
  /** Kind. @defaultValue `'message'` */
  kind: opt(RelayMessageKindSchema),
  ...SessionEventPayloadSchema.entries,
  /** Epoch ms the event happened; stamped once by the runner. */
  occurredAt: epochMs,
  /** Stable across retries; the relay answers a repeat with the first result (`duplicate: true`). */
  idempotencyKey: nonEmpty(L.idempotencyKey),
});

/**
 * Body of a message an agent sends (one `POST /v1/messages`).
 * @public
 */
export type SendMessageInput = v.InferOutput<typeof SendMessageInputSchema>;

/**
 * Schema of {@link SendMessageResult}.
 * @public
 */
export const SendMessageResultSchema = v.object({
  /** The stored message (the original one when this was a duplicate). */
  message: RelayMessageSchema,
  /** True when the idempotency key had been seen before and nothing new was stored. */
  duplicate: v.boolean(),
});

/**
 * The relay's answer to a sent message.
 * @public
 */
export type SendMessageResult = v.InferOutput<typeof SendMessageResultSchema>;

/**
 * Schema of {@link UnreadMessages} (`GET /v1/agents/:id/messages/unread`).
 * @public
 */
export const UnreadMessagesSchema = v.object({
  /** Unread messages, oldest first. */
  messages: v.array(RelayMessageSchema),
});

/**
 * The relay's answer to an unread poll.
 * @public
 */
export type UnreadMessages = v.InferOutput<typeof UnreadMessagesSchema>;

/**
 * Schema of {@link MarkReadInput} (`POST /v1/agents/:id/messages/read`).
 * @public
 */
export const MarkReadInputSchema = v.object({
  /** Ids of the messages to mark read (at most 1000). */
  ids: v.pipe(v.array(str(L.id)), v.maxLength(L.items)),
});

/**
 * Body of a mark-read request.
 * @public
 */
export type MarkReadInput = v.InferOutput<typeof MarkReadInputSchema>;

/**
 * Schema of {@link MarkReadResult}.
 * @public
 */
export const MarkReadResultSchema = v.object({
  /** How many messages changed from unread to read. */
  marked: v.pipe(count, v.integer()),
});

/**
 * The relay's answer to a mark-read request.
 * @public
 */
export type MarkReadResult = v.InferOutput<typeof MarkReadResultSchema>;

/**
 * Schema of {@link Obligation}.
 * @public
 */
export const ObligationSchema = v.object({
  /** Id of the message that expects a reply. */
  messageId: nonEmpty(L.id),
  /** Who is waiting for the reply. */
  from: str(L.id),
  /** First 200 characters of the message body. */
  excerpt: str(1000),
  /** Task id, when the message carried one. */
  taskId: opt(str(L.id)),
  /** Epoch ms the obligation was created. */
  createdAt: epochMs,
});

/**
 * A reply the agent owes (SPEC §4).
 * @public
 */
export type Obligation = v.InferOutput<typeof ObligationSchema>;

/**
 * Schema of {@link Obligations} (`GET /v1/agents/:id/obligations`).
 * @public
 */
export const ObligationsSchema = v.object({
  /** Open obligations, oldest first. */
  obligations: v.array(ObligationSchema),
});

/**
 * The relay's answer to an obligations read.
 * @public
 */
export type Obligations = v.InferOutput<typeof ObligationsSchema>;
