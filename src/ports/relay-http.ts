/**
 * The relay's HTTP API as a port (protocol version 1, see `docs/protocol.md`).
 * The wire shapes are described once, as schemas, in `src/protocol/`; their types are re-exported
 * here so the core keeps importing them from its ports.
 */

export type {
  AgentFeatures,
  AgentProfile,
  RelayAgent,
  RegisterAgentInput,
  TokenGrant,
  RegisterAgentResult,
  EmptyBody,
  HeartbeatResult,
  DeleteAgentResult,
  RelayErrorBody,
  RelayErrorResponse,
} from '../protocol/relay-agents.js';
export type {
  RelayAttachment,
  RelayMessageKind,
  RelayMessage,
  SessionEventPayload,
  MessageEventPayload,
  SendMessageInput,
  SendMessageResult,
  UnreadMessages,
  MarkReadInput,
  MarkReadResult,
  Obligation,
  Obligations,
} from '../protocol/relay-messages.js';
export type {
  RelayEventKind,
  RelayBatchItem,
  RelayBatchRequest,
  RelayBatchItemResult,
  RelayBatchResult,
  TaskStatus,
  TaskStatusPayload,
  TaskStatusInput,
  TaskStatusRequest,
  RelayTask,
  TaskStatusResult,
  InsightPayload,
  InsightInput,
  InsightResult,
  HookFatalPayload,
} from '../protocol/relay-events.js';
export type {
  PermissionBehavior,
  RelayPermissionRequestInput,
  RelayPermissionDecision,
  RelayPermissionRequest,
  RelayPermissionResponse,
} from '../protocol/relay-permissions.js';
import type { HeartbeatResult, RegisterAgentInput, RegisterAgentResult, TokenGrant } from '../protocol/relay-agents.js';
import type { Obligation, RelayMessage } from '../protocol/relay-messages.js';
import type { RelayBatchItem, RelayBatchResult } from '../protocol/relay-events.js';
import type { RelayPermissionRequest, RelayPermissionRequestInput } from '../protocol/relay-permissions.js';

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
 * The relay's HTTP API, as far as the runner uses it.
 * @remarks
 * - Every method rejects with `RelayHttpError` (status, `retryAfterMs`, server message) when the
 *   relay answers non-2xx, `RelayUnavailableError` when it cannot be reached or does not answer in
 *   time, and `ProtocolError` when it speaks another protocol version or answers with a body that
 *   does not match the protocol schema.
 * - Agent calls authenticate with the current agent token; `register` uses the workspace API key.
 * - Routes the runner never calls (delete an agent, the single-event routes, reading a permission
 *   request) are not part of the port; `createFetchRelayHttp()` offers them as extras
 *   (`FetchRelayHttp`).
 * @public
 */
export interface RelayHttp {
  /** Register (or re-register) an agent with the workspace API key; returns its token and profile. */
  register(input: RegisterAgentInput): Promise<RegisterAgentResult>;
  /** Tell the relay the agent is alive (used while the bus is down). */
  heartbeat(agentId: string): Promise<HeartbeatResult>;
  /** Issue a fresh token. @remarks Uses the current token; falls back to the workspace API key when that was refused and one is configured. */
  renewToken(agentId: string): Promise<TokenGrant>;
  /** Send an ordered batch; the relay stops at the first retryable failure. */
  sendBatch(items: readonly RelayBatchItem[]): Promise<RelayBatchResult>;
  /** Unread messages addressed to the agent, oldest first. */
  pollUnread(agentId: string, options?: { limit?: number }): Promise<RelayMessage[]>;
  /** Mark messages read; returns how many changed. */
  markRead(agentId: string, messageIds: readonly string[]): Promise<number>;
  /** Replies the agent owes. */
  obligations(agentId: string): Promise<Obligation[]>;
  /** Ask a user for a permission decision. Re-sending the same `requestId` returns the same request. */
  createPermissionRequest(agentId: string, input: RelayPermissionRequestInput): Promise<RelayPermissionRequest>;
  /** Download an attachment's bytes (`url` as given in a message's `attachments`). */
  downloadAttachment(url: string, options?: { maxBytes?: number }): Promise<Uint8Array>;
}
