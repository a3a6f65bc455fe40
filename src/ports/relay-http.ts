/**
 * The relay's HTTP API as a port (protocol version 1, see `docs/protocol.md`).
 * Value types here are the wire shapes, so adapters and the reference server share them.
 */

/**
 * Protocol version this library speaks. Sent as the `X-Relay-Protocol` header and in the bus
 * `hello` frame; the server refuses other versions with `protocol_mismatch`.
 * @public
 */
export const RELAY_PROTOCOL_VERSION = 1;

/**
 * Name of the HTTP header carrying {@link RELAY_PROTOCOL_VERSION}.
 * @public
 */
export const RELAY_PROTOCOL_HEADER = 'X-Relay-Protocol';

/**
 * Which relay features are on for an agent.
 * @public
 */
export interface AgentFeatures {
  /** Prepend the relay context block on the first turn of a session. */
  relayContext: boolean;
  /** Post insight observations (the relay answers 409 when off). */
  insights: boolean;
  /** Mirror the provider session to the relay. */
  sessionMirror: boolean;
}

/**
 * Per-agent settings the relay hands out at registration (SPEC §7 "Agent profile").
 * @remarks Every field but `features` is optional: a relay that has no opinion leaves it out.
 * @public
 */
export interface AgentProfile {
  /** Model the provider should use. */
  model?: string;
  /** Provider permission mode (e.g. `default`, `acceptEdits`, `plan`). */
  permissionMode?: string;
  /** Tools the provider may use without asking. */
  allowedTools?: string[];
  /** Extra instructions appended to the provider's system prompt. */
  extraInstructions?: string;
  /** Use the host's own provider configuration instead of an isolated config home. */
  useHostConfig?: boolean;
  /** Feature switches. */
  features: AgentFeatures;
}

/**
 * An agent as the relay knows it.
 * @public
 */
export interface RelayAgent {
  /** Relay-assigned id, stable across re-registrations with the same name. */
  id: string;
  /** Name the agent registered with (unique per workspace). */
  name: string;
  /** Provider name the runner reported (`claude`, `codex`, `demo`, …). */
  provider?: string;
  /** Epoch ms of the first registration. */
  createdAt: number;
  /** Epoch ms of the last heartbeat or registration. */
  lastSeenAt: number;
}

/**
 * What the runner tells the relay when registering.
 * @public
 */
export interface RegisterAgentInput {
  /** Agent name: 1–64 characters of `[A-Za-z0-9_.-]`. */
  name: string;
  /** Provider name. */
  provider?: string;
  /** Runner version, for the dashboard. */
  runnerVersion?: string;
  /** Free-form metadata (plain JSON). */
  metadata?: Record<string, unknown>;
}

/**
 * A bearer token and its expiry.
 * @public
 */
export interface TokenGrant {
  /** Bearer token for agent calls (`Authorization: Bearer <token>`). A secret: never log it. */
  token: string;
  /** Epoch ms after which the relay answers 401 to it. */
  tokenExpiresAt: number;
}

/**
 * The relay's answer to a registration.
 * @public
 */
export interface RegisterAgentResult extends TokenGrant {
  /** The registered agent. */
  agent: RelayAgent;
  /** Settings for this agent. */
  profile: AgentProfile;
}

/**
 * Metadata of a file attached to a message. The bytes are fetched with
 * {@link RelayHttp.downloadAttachment}.
 * @public
 */
export interface RelayAttachment {
  /** Relay-assigned attachment id. */
  id: string;
  /** File name as the sender gave it (unsanitised: sanitise before using it as a path). */
  name: string;
  /** Size in bytes. */
  size: number;
  /** MIME type. */
  mediaType: string;
  /** Path of the download route, relative to the relay base URL (`/v1/attachments/<id>`). */
  url: string;
}

/**
 * Message kinds. `message` is a conversation message; `session` is a session-mirror entry
 * (prompt echo, reply, reasoning, tool step) that is stored but never delivered to an inbox.
 * @public
 */
export type RelayMessageKind = 'message' | 'session';

/**
 * A message stored on the relay.
 * @public
 */
export interface RelayMessage {
  /** Relay-assigned id (`msg_…`). */
  id: string;
  /** Global arrival order on this relay. */
  seq: number;
  /** Kind of message. */
  kind: RelayMessageKind;
  /** Sender: an agent name or a user name. */
  from: string;
  /** Recipient: an agent name or a user name (empty for session entries without one). */
  to: string;
  /** Text body. */
  body: string;
  /** Id of the message this one answers. */
  replyTo?: string;
  /** Task this message assigns or concerns. */
  taskId?: string;
  /** True when the sender expects a reply (the recipient then has an obligation). */
  expectsReply: boolean;
  /** Epoch ms when the sender said it happened. */
  occurredAt: number;
  /** Epoch ms when the relay stored it. */
  createdAt: number;
  /** Session-mirror detail (`prompt`, `reply`, `reasoning`, `tool`, …), for `session` messages. */
  entry?: string;
  /** Attachment metadata. */
  attachments: RelayAttachment[];
}

/**
 * Body of a message an agent sends (one `POST /v1/messages` or one batch item of kind
 * `message` / `session`).
 * @public
 */
export interface SendMessageInput {
  /** Kind. @defaultValue `'message'` */
  kind?: RelayMessageKind;
  /** Recipient agent or user name. Required for `message`. */
  to?: string;
  /** Text body (at most 256 KiB). */
  body: string;
  /** Id of the message this answers; clears the sender's obligation for it. */
  replyTo?: string;
  /** Task id. */
  taskId?: string;
  /** Ask the recipient for an answer (creates an obligation when the recipient is an agent). */
  expectsReply?: boolean;
  /** Session-mirror detail for `session` messages. */
  entry?: string;
  /** Epoch ms the event happened; stamped once by the runner. */
  occurredAt: number;
  /** Stable across retries; the relay answers a repeat with the first result (`duplicate: true`). */
  idempotencyKey: string;
}

/**
 * The relay's answer to a sent message.
 * @public
 */
export interface SendMessageResult {
  /** The stored message (the original one when this was a duplicate). */
  message: RelayMessage;
  /** True when the idempotency key had been seen before and nothing new was stored. */
  duplicate: boolean;
}

/**
 * Kinds the ordered batch route accepts.
 * @public
 */
export type RelayEventKind = 'message' | 'session' | 'task_status' | 'insight' | 'hook_fatal';

/**
 * One item of an ordered batch (`POST /v1/events/batch`).
 * @remarks Payload shapes per kind: `message`/`session` → {@link SendMessageInput} minus the
 * envelope fields; `task_status` → {@link TaskStatusInput} minus the envelope; `insight` →
 * {@link InsightInput} minus the envelope; `hook_fatal` → `{ hook, message, ... }`.
 * @public
 */
export interface RelayBatchItem {
  /** Event kind. */
  kind: string;
  /** Stable across retries; deduped per agent. */
  idempotencyKey: string;
  /** Epoch ms the event happened. */
  occurredAt: number;
  /** Kind-specific body (plain JSON). */
  payload: unknown;
}

/**
 * The relay's answer for one attempted batch item.
 * @public
 */
export interface RelayBatchItemResult {
  /** Index of the item in the request. */
  index: number;
  /** 201 stored, 200 duplicate, 4xx permanent rejection, 429/5xx retryable (the batch stopped here). */
  status: number;
  /** True when the idempotency key had been seen before. */
  duplicate?: boolean;
  /** Id of what was stored (message id, event id). */
  id?: string;
  /** Error code and one-line reason for a non-2xx status. */
  error?: RelayErrorBody;
  /** Seconds before retrying, on 429/503. */
  retryAfterSeconds?: number;
}

/**
 * The relay's answer to an ordered batch.
 * @public
 */
export interface RelayBatchResult {
  /** Results of the attempted items, in request order. */
  results: RelayBatchItemResult[];
  /** Items after the stopping item, which the relay did not look at. */
  notAttempted: number;
}

/**
 * The error object every non-2xx response carries (`{ "error": { code, message } }`).
 * @public
 */
export interface RelayErrorBody {
  /** Stable machine code (`unauthorized`, `token_expired`, `invalid_body`, …). */
  code: string;
  /** One-line human reason. */
  message: string;
}

/**
 * A reply the agent owes (SPEC §4).
 * @public
 */
export interface Obligation {
  /** Id of the message that expects a reply. */
  messageId: string;
  /** Who is waiting for the reply. */
  from: string;
  /** First 200 characters of the message body. */
  excerpt: string;
  /** Task id, when the message carried one. */
  taskId?: string;
  /** Epoch ms the obligation was created. */
  createdAt: number;
}

/**
 * Task states.
 * @public
 */
export type TaskStatus = 'pending' | 'in_progress' | 'completed' | 'failed' | 'cancelled';

/**
 * A task status update.
 * @public
 */
export interface TaskStatusInput {
  /** Task id. */
  taskId: string;
  /** New state. */
  status: TaskStatus;
  /** Message that assigned or completed the task. */
  messageId?: string;
  /** Short note for the dashboard. */
  note?: string;
  /** Epoch ms it happened. */
  occurredAt: number;
  /** Stable across retries. */
  idempotencyKey: string;
}

/**
 * A task as stored on the relay.
 * @public
 */
export interface RelayTask {
  /** Task id. */
  taskId: string;
  /** Agent that last updated it. */
  agentId: string;
  /** Current state. */
  status: TaskStatus;
  /** Message id of the last update, if any. */
  messageId?: string;
  /** Last note. */
  note?: string;
  /** Epoch ms of the last update (its `occurredAt`). */
  updatedAt: number;
}

/**
 * An insight observation (e.g. `context_ratio`).
 * @public
 */
export interface InsightInput {
  /** Observation type. */
  type: string;
  /** Observation data (plain JSON). */
  data: Record<string, unknown>;
  /** Epoch ms it happened. */
  occurredAt: number;
  /** Stable across retries. */
  idempotencyKey: string;
}

/**
 * A permission request the runner raises for the provider.
 * @public
 */
export interface RelayPermissionRequestInput {
  /** Runner-side request id (the provider's), echoed in the decision. */
  requestId: string;
  /** Tool that wants to run. */
  tool: string;
  /** One-line summary of the tool input. */
  summary: string;
  /** The tool input, possibly truncated (plain JSON). */
  input?: unknown;
}

/**
 * A permission request as stored on the relay.
 * @public
 */
export interface RelayPermissionRequest {
  /** Relay-assigned id (`perm_…`). */
  id: string;
  /** Runner-side request id. */
  requestId: string;
  /** Agent that asked. */
  agentId: string;
  /** Tool name. */
  tool: string;
  /** Summary. */
  summary: string;
  /** `pending` until a user decides. */
  status: 'pending' | 'decided';
  /** The decision, once made. */
  decision?: { behavior: 'allow' | 'deny'; message?: string; decidedBy: string; decidedAt: number };
  /** Epoch ms created. */
  createdAt: number;
}

/**
 * The relay's HTTP API.
 * @remarks
 * - Every method rejects with `RelayHttpError` (status, `retryAfterMs`, server message) when the
 *   relay answers non-2xx, `RelayUnavailableError` when it cannot be reached or does not answer in
 *   time, and `ProtocolError` when it speaks another protocol version.
 * - Agent calls authenticate with the current agent token; `register` uses the workspace API key.
 * @public
 */
export interface RelayHttp {
  /** Register (or re-register) an agent with the workspace API key; returns its token and profile. */
  register(input: RegisterAgentInput): Promise<RegisterAgentResult>;
  /** Delete an agent and revoke its tokens. */
  deleteAgent(agentId: string): Promise<void>;
  /** Tell the relay the agent is alive (used while the bus is down). */
  heartbeat(agentId: string): Promise<{ serverTime: number }>;
  /** Issue a fresh token. @remarks Uses the current token; falls back to the workspace API key when that was refused and one is configured. */
  renewToken(agentId: string): Promise<TokenGrant>;
  /** Send one message (idempotent on `idempotencyKey`). */
  sendMessage(input: SendMessageInput): Promise<SendMessageResult>;
  /** Send an ordered batch; the relay stops at the first retryable failure. */
  sendBatch(items: readonly RelayBatchItem[]): Promise<RelayBatchResult>;
  /** Unread messages addressed to the agent, oldest first. */
  pollUnread(agentId: string, options?: { limit?: number }): Promise<RelayMessage[]>;
  /** Mark messages read; returns how many changed. */
  markRead(agentId: string, messageIds: readonly string[]): Promise<number>;
  /** Replies the agent owes. */
  obligations(agentId: string): Promise<Obligation[]>;
  /** Update a task's status (idempotent on `idempotencyKey`). */
  taskStatus(input: TaskStatusInput): Promise<RelayTask>;
  /** Post an insight observation; 409 (`insights_disabled`) when insights are off. */
  insight(input: InsightInput): Promise<{ id: string; duplicate: boolean }>;
  /** Ask a user for a permission decision. Re-sending the same `requestId` returns the same request. */
  createPermissionRequest(agentId: string, input: RelayPermissionRequestInput): Promise<RelayPermissionRequest>;
  /** Read a permission request (and its decision, once made). */
  getPermissionRequest(agentId: string, permissionId: string): Promise<RelayPermissionRequest>;
  /** Download an attachment's bytes (`url` as given in {@link RelayAttachment}). */
  downloadAttachment(url: string, options?: { maxBytes?: number }): Promise<Uint8Array>;
}
