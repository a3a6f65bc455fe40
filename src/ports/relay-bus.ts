/**
 * The relay's WebSocket bus as a port. The frames are described once, as schemas, in
 * `src/protocol/relay-bus.ts`; their types are re-exported here for the core.
 */
import type { BusErrorFrame, CommandFrame, MessageNewFrame, PermissionDecisionFrame, RunnerFrame } from '../protocol/relay-bus.js';

export type {
  WelcomeFrame,
  MessageNewFrame,
  CommandFrame,
  PermissionDecisionFrame,
  BusErrorFrame,
  PongFrame,
  ServerFrame,
  HelloFrame,
  RunnerStatusSnapshot,
  StatusFrame,
  TimelineFrame,
  CommandResultFrame,
  PingFrame,
  RunnerFrame,
} from '../protocol/relay-bus.js';

/**
 * Frames the runner may hand to {@link RelayBus.send}: everything but the bus's own `hello` and `ping`.
 * @public
 */
export type OutgoingRunnerFrame = Exclude<RunnerFrame, { type: 'hello' | 'ping' }>;

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
  send(frame: OutgoingRunnerFrame): boolean;
  /** Subscribe to an event. Returns an unsubscribe function. */
  on<K extends keyof RelayBusEvents>(event: K, listener: RelayBusEvents[K]): () => void;
  /** Use this token from the next (re)connect on. */
  setToken(token: string): void;
  /** Drop the current connection and reconnect now (e.g. after a token renewal). */
  reconnect(reason?: string): void;
  /** Close for good. */
  close(): Promise<void>;
}
