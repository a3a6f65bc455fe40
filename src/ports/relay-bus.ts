import type { RelayMessage } from './relay-http.js';

/**
 * `welcome`: the server accepted the `hello`; the link is up.
 * @public
 */
export interface WelcomeFrame {
  /** Frame type discriminator. */
  type: 'welcome';
  /** Protocol version the server speaks. */
  protocol: number;
  /** Agent the connection is authenticated as. */
  agentId: string;
  /** Server time (epoch ms). */
  serverTime: number;
}

/**
 * `message.new`: a message arrived for the agent.
 * @public
 */
export interface MessageNewFrame {
  /** Frame type discriminator. */
  type: 'message.new';
  /** The message, as `pollUnread` would return it. */
  message: RelayMessage;
}

/**
 * `command`: the relay asks the runner to do something; answered by a `command.result` with the same id.
 * @remarks Known names: `stop`, `interrupt`, `restart`, `set_log_level` (`{ level }`),
 * `permission_decision`. Unknown names are answered with `ok: false`.
 * @public
 */
export interface CommandFrame {
  /** Frame type discriminator. */
  type: 'command';
  /** Correlation id, echoed in the result. */
  id: string;
  /** Command name. */
  name: string;
  /** Arguments (plain JSON object). */
  args: Record<string, unknown>;
}

/**
 * `permission.decision`: a user decided a permission request.
 * @public
 */
export interface PermissionDecisionFrame {
  /** Frame type discriminator. */
  type: 'permission.decision';
  /** Relay id of the request. */
  permissionId: string;
  /** Runner-side request id. */
  requestId: string;
  /** Allow or deny. */
  behavior: 'allow' | 'deny';
  /** Reason shown to the agent. */
  message?: string;
}

/**
 * `error`: the server refused something on the bus. Fatal errors are followed by a close.
 * @public
 */
export interface BusErrorFrame {
  /** Frame type discriminator. */
  type: 'error';
  /** Stable code (`unauthorized`, `protocol_mismatch`, `bad_frame`, `hello_timeout`, …). */
  code: string;
  /** One-line reason. */
  message: string;
  /** True when the server is about to close the connection. */
  fatal?: boolean;
}

/**
 * `pong`: answer to a `ping`.
 * @public
 */
export interface PongFrame {
  /** Frame type discriminator. */
  type: 'pong';
  /** The ping's id. */
  id: string;
  /** Server time (epoch ms). */
  serverTime: number;
}

/**
 * Every frame the server sends.
 * @public
 */
export type ServerFrame = WelcomeFrame | MessageNewFrame | CommandFrame | PermissionDecisionFrame | BusErrorFrame | PongFrame;

/**
 * `hello`: first frame on every connection; authenticates with the current token.
 * @public
 */
export interface HelloFrame {
  /** Frame type discriminator. */
  type: 'hello';
  /** Protocol version the runner speaks. */
  protocol: number;
  /** Agent id. */
  agentId: string;
  /** Current agent token (a secret). */
  token: string;
}

/**
 * Runner status as published on the bus (last-wins, never queued).
 * @public
 */
export interface RunnerStatusSnapshot {
  /** Coarse state. */
  state: 'starting' | 'busy' | 'idle' | 'stalled' | 'error' | 'offline';
  /** Epoch ms of the last provider activity. */
  lastActivityAt?: number;
  /** Context window usage. */
  context?: { usedTokens: number; windowTokens?: number };
  /** Open subagents. */
  subagents?: number;
  /** Short human detail. */
  detail?: string;
  /** Anything else the runner wants a dashboard to see (plain JSON). */
  [key: string]: unknown;
}

/**
 * `status`: the runner's current status (the server keeps the last one per agent).
 * @public
 */
export interface StatusFrame {
  /** Frame type discriminator. */
  type: 'status';
  /** The status. */
  status: RunnerStatusSnapshot;
}

/**
 * `timeline`: an informational runner event (e.g. `provider.restart_decision`).
 * @public
 */
export interface TimelineFrame {
  /** Frame type discriminator. */
  type: 'timeline';
  /** Event name. */
  event: string;
  /** Epoch ms it happened. */
  at: number;
  /** Event details (plain JSON). */
  data?: Record<string, unknown>;
}

/**
 * `command.result`: the answer to a `command`.
 * @public
 */
export type CommandResultFrame =
  | { type: 'command.result'; id: string; ok: true; result?: unknown }
  | { type: 'command.result'; id: string; ok: false; error: string };

/**
 * `ping`: liveness probe; the server answers `pong` with the same id.
 * @public
 */
export interface PingFrame {
  /** Frame type discriminator. */
  type: 'ping';
  /** Correlation id. */
  id: string;
}

/**
 * Every frame the runner sends.
 * @public
 */
export type RunnerFrame = HelloFrame | StatusFrame | TimelineFrame | CommandResultFrame | PingFrame;

/**
 * Why the bus link changed state.
 * @public
 */
export interface RelayBusStateEvent {
  /** True once the server welcomed the connection; false after any loss. */
  connected: boolean;
  /** Short reason (`welcome`, `closed 1006`, `ping timeout`, `unauthorized`, …). */
  reason: string;
  /** Delay before the next connection attempt, when disconnected and reconnecting. */
  retryInMs?: number;
}

/**
 * Events of a {@link RelayBus}.
 * @public
 */
export interface RelayBusEvents {
  /** A message arrived. */
  'message.new': (frame: MessageNewFrame) => void;
  /** A command arrived; answer it with a `command.result` frame. */
  command: (frame: CommandFrame) => void;
  /** A permission decision arrived. */
  'permission.decision': (frame: PermissionDecisionFrame) => void;
  /** The server sent an `error` frame (on `unauthorized`, renew the token). */
  error: (frame: BusErrorFrame) => void;
  /** The link went up or down. */
  state: (event: RelayBusStateEvent) => void;
}

/**
 * The relay's WebSocket bus: pushed messages, commands and decisions in; status, timeline and
 * command results out.
 * @remarks
 * - `connect()` starts a connection loop that never gives up until `close()`: every attempt sends
 *   `hello` with the current token; failures back off (capped, jittered).
 * - `connected` is true only between the server's `welcome` and the next loss, including a loss
 *   noticed by the ping deadline on a silent link.
 * - A `status` frame is last-wins: the latest one is re-sent after every reconnect.
 * @public
 */
export interface RelayBus {
  /** True while the server has welcomed the current connection. */
  readonly connected: boolean;
  /** Start connecting (idempotent). */
  connect(): void;
  /** Send a frame. Returns false when it could not be sent now (see the adapter for buffering). */
  send(frame: Exclude<RunnerFrame, HelloFrame | PingFrame>): boolean;
  /** Subscribe to an event. Returns an unsubscribe function. */
  on<K extends keyof RelayBusEvents>(event: K, listener: RelayBusEvents[K]): () => void;
  /** Use this token from the next (re)connect on. */
  setToken(token: string): void;
  /** Drop the current connection and reconnect now (e.g. after a token renewal). */
  reconnect(reason?: string): void;
  /** Close for good. */
  close(): Promise<void>;
}
