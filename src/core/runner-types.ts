import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProviderAdapter, ProviderDeps } from '../ports/provider.js';
import type { RelayHttp } from '../ports/relay-http.js';
import type { RelayBus } from '../ports/relay-bus.js';
import type { Outbox } from './outbox.js';
import type { OutboxPoisonedEvent, OutboxRejectedEvent, OutboxRetryEvent, OutboxShedEvent } from './outbox-types.js';
import type { DeliveryJournal } from '../ports/delivery-journal.js';
import type { AgentStatus } from './status.js';
import type { DeliveryEvent } from './delivery.js';
import type { ExitPolicyOptions } from './exit-policy.js';
import type { MirrorEvent } from './session-mirror.js';
import type { LocalPermissionAnswer, LocalPermissionRequest, PendingPermission } from './permissions.js';

export type { MirrorEvent } from './session-mirror.js';
export type { StopVerdict } from './obligations.js';
export type { RelayedPermissionOutcome, PendingPermission } from './permissions.js';
import type { SaveAttachment } from './inbox.js';
import type { WorkspaceInfo } from './turns.js';

/**
 * A runner timeline entry: decisions and lifecycle events worth showing on a dashboard.
 * @public
 */
export interface TimelineEvent {
  /** Event name, e.g. `provider.restart_decision`. */
  event: string;
  /** Epoch ms. */
  at: number;
  /** Details (plain JSON). */
  data?: Record<string, unknown>;
}

/**
 * The agent's own relay message, queued in the outbox (`agent-relay-runner send`, `Runner.send`).
 * @public
 */
export interface SentEvent {
  /** Outbox sequence number. */
  seq: number;
  /** Recipient name or agent id. */
  to: string;
  /** The relay message this answers, if any: that message is then answered. */
  replyTo?: string;
  /** Epoch ms when it was queued. */
  at: number;
}

/**
 * Events of a runner.
 * @public
 */
export type RunnerEvents = {
  /** Status changed (last-wins). */
  status: (status: AgentStatus) => void;
  /** A delivery changed state: queued, injected, consumed. */
  delivery: (event: DeliveryEvent) => void;
  /** The agent's own message was queued for the relay (a reply when it carries `replyTo`). */
  sent: (event: SentEvent) => void;
  /** The permission requests waiting for the relay changed: the list as it is now. */
  permissions: (pending: PendingPermission[]) => void;
  /** A session-mirror entry was queued for the relay. */
  mirror: (event: MirrorEvent) => void;
  /** A timeline event (also published on the bus). */
  timeline: (event: TimelineEvent) => void;
  /** Outbox trouble, as it happens: a retry scheduled, a row poisoned or rejected, rows shed. */
  outbox: (event: RunnerOutboxEvent) => void;
  /** The runner finished `start()`. */
  ready: (info: { agentId: string; controlUrl?: string }) => void;
  /** A failure the runner handled (logged too). */
  error: (error: Error) => void;
};

/**
 * An outbox event forwarded by the runner (`runner.on('outbox', …)`), so a host sees delivery
 * trouble without polling `outboxStats()`.
 * @public
 */
export type RunnerOutboxEvent =
  | ({ type: 'retry' } & OutboxRetryEvent)
  | ({ type: 'poisoned' } & OutboxPoisonedEvent)
  | ({ type: 'rejected' } & OutboxRejectedEvent)
  | ({ type: 'shed' } & OutboxShedEvent);

/** Everything the core needs; the composition root fills it, every default already resolved. */
export interface RunnerCoreDeps {
  name: string;
  cwd: string;
  clock: Clock;
  logger: Logger;
  http: RelayHttp;
  makeBus: (agentId: string, token: string) => RelayBus;
  makeOutbox: (agentId: string) => Outbox;
  provider: ProviderAdapter;
  /** The ports handed to the provider on every start and version check. */
  providerDeps: ProviderDeps;
  providerEnv: () => Record<string, string>;
  initialPrompt?: string;
  workspace?: WorkspaceInfo;
  runnerVersion: string;
  exitPolicy?: ExitPolicyOptions;
  stalledAfterMs: number;
  heartbeatMs: number;
  permissionTimeoutMs: number;
  /** The host's permission callback, asked before the relay. */
  onPermissionRequest?: (request: LocalPermissionRequest) => LocalPermissionAnswer | Promise<LocalPermissionAnswer>;
  obligationRefreshMs: number;
  /** Largest attachment downloaded. */
  maxAttachmentBytes: number;
  /** Store a downloaded attachment locally; returns its path. */
  saveAttachment: SaveAttachment;
  /** The durable note of messages being worked on, read at start (none: redelivery after a runner crash is not marked as a retry). */
  journal?: DeliveryJournal;
  /**
   * The agent's fallback send command as the turn text names it (shell-ready): the PATH-free script
   * in the scratch dir. @defaultValue `agent-relay-runner send` (found on PATH)
   */
  sendCommand?: string;
}
