/**
 * The reference relay's public shapes: options, the inspection API and fault injection.
 */
import type { Clock } from '../../ports/clock.js';
import type { AgentProfile, Obligation, RelayAgent, RelayMessage, RelayPermissionRequest, RelayTask } from '../../ports/relay-http.js';
import type { RunnerStatusSnapshot, TimelineFrame } from '../../ports/relay-bus.js';
import type { RelayMessageKind } from '../../ports/relay-http.js';

/**
 * Options of {@link createRelayDevServer}.
 * @public
 */
export interface RelayDevServerOptions {
  /** sql.js database file; state survives a restart on the same path. @defaultValue in memory */
  path?: string;
  /** Port; pass the old port to restart "in place". @defaultValue 0 (any free port) */
  port?: number;
  /**
   * Bind address. Anything but loopback exposes a test server (no TLS, simple auth) to the network.
   * @defaultValue `'127.0.0.1'`
   */
  host?: string;
  /** Workspace API key accepted by registration and token recovery. @defaultValue `'dev-workspace-key'` */
  apiKey?: string;
  /** Lifetime of issued tokens. @defaultValue 3600000 (one hour) */
  tokenTtlMs?: number;
  /** Whether insights are on for the workspace (agents may be overridden by `profiles`). @defaultValue true */
  insightsEnabled?: boolean;
  /** Per-agent-name profile overrides. */
  profiles?: Record<string, Partial<AgentProfile>>;
  /**
   * Source of "now" for timestamps and token expiry (pass a fake clock to test expiry).
   * Network timers (latency, hello timeout, persistence debounce) always use real time.
   * @defaultValue the system clock
   */
  clock?: Clock;
  /** Largest accepted request body. @defaultValue 1048576 */
  maxBodyBytes?: number;
  /** How long a new bus connection may take to send `hello`. @defaultValue 10000 */
  helloTimeoutMs?: number;
  /** Delay before a mutation is written to `path` (flushed on close). @defaultValue 20 */
  persistDebounceMs?: number;
}

/**
 * What a command sent with {@link RelayDevServer.commands} resolved to.
 * @public
 */
export type DevCommandOutcome = { ok: true; result?: unknown } | { ok: false; error: string };

/**
 * A status frame as the server received it.
 * @public
 */
export interface ReceivedStatus {
  /** Server time when it arrived. */
  receivedAt: number;
  /** The status. */
  status: RunnerStatusSnapshot;
}

/**
 * Which requests a request fault applies to.
 * @public
 */
export interface FaultMatch {
  /** Only requests whose path contains this string (or matches this pattern). @defaultValue every request */
  path?: string | RegExp;
}

/**
 * Fault injection.
 * @public
 */
export interface RelayDevServerFaults {
  /** Delay every HTTP request by `ms` before handling it (0 turns it off). */
  latency(ms: number): void;
  /** Stop listening and drop every connection: clients get "connection refused". */
  down(): Promise<void>;
  /** Listen again on the same port after {@link RelayDevServerFaults.down}. */
  up(): Promise<void>;
  /** Accept connections but never answer HTTP requests, bus frames or bus upgrades (`false` releases). */
  hung(on?: boolean): void;
  /** The next `count` matching requests fail with `status` before being applied. */
  failNext(count: number, status: number, options?: FaultMatch & { retryAfterSeconds?: number }): void;
  /** After letting `skip` items through (default 0), the next `count` batch items fail with `status` (the batch stops there if it is retryable). */
  failNextItems(count: number, status: number, options?: { retryAfterSeconds?: number; skip?: number }): void;
  /** The next `count` matching requests are applied, then the connection is destroyed without an answer. */
  loseResponseAfterApply(count: number, options?: FaultMatch): void;
  /** Terminate every bus connection (clients see an abnormal close). */
  dropBus(): void;
  /**
   * Send `text` as-is as a bus frame to the agent's connections, unchecked (to test how a client
   * handles a malformed frame). Returns how many connections got it.
   */
  rawFrame(agentId: string, text: string): number;
  /** Make the tokens of one agent (or of all) expire now. */
  expireToken(agentId?: string): void;
  /** Remove every fault (and come back up when down). */
  clear(): Promise<void>;
}

/**
 * A running reference relay.
 * @public
 */
export interface RelayDevServer {
  /** Base URL, `http://127.0.0.1:<port>` (routes live under `/v1`; the bind host when it is not a wildcard). */
  readonly url: string;
  /** Bus URL, `ws://127.0.0.1:<port>/v1/bus`. */
  readonly wsUrl: string;
  /** The port. */
  readonly port: number;
  /** The workspace API key. */
  readonly apiKey: string;
  /** Fault injection. */
  readonly faults: RelayDevServerFaults;
  /** Send bus commands to agents as the dashboard would. */
  readonly commands: {
    /** Send a command and resolve with the runner's `command.result`; queued until the agent is connected. Rejects after `timeoutMs` (default 10 s). */
    send(agentId: string, name: string, args?: Record<string, unknown>, options?: { timeoutMs?: number }): Promise<DevCommandOutcome>;
  };
  /** Registered (not deleted) agents. */
  listAgents(): RelayAgent[];
  /** Stored messages in arrival order. */
  listMessages(filter?: MessageFilter): RelayMessage[];
  /** Every accepted event (messages, session entries, task status, insights, hook failures) in arrival order. */
  listEvents(filter?: { agentId?: string; kind?: string }): DevServerEvent[];
  /** Send a message to an agent as a user would: stored, unread, obligation when `expectsReply`, pushed on the bus. */
  sendToAgent(
    agentIdOrName: string,
    input: { from: string; body: string; expectsReply?: boolean; taskId?: string; replyTo?: string; attachments?: NewAttachment[] },
  ): RelayMessage;
  /**
   * Set (or with `undefined`, clear) the profile overrides an agent name gets at its next
   * registration, as `profiles` does at creation.
   */
  setProfile(name: string, profile: Partial<AgentProfile> | undefined): void;
  /** Open obligations of an agent. */
  obligations(agentId: string): Obligation[];
  /** Messages to an agent (by id or name) not yet marked read, oldest first. */
  unread(agentIdOrName: string): RelayMessage[];
  /** Tasks and their last status. */
  tasks(): RelayTask[];
  /** Permission requests (of one agent, or all). */
  permissions(agentId?: string): RelayPermissionRequest[];
  /** Decide a permission request as a user; pushes `permission.decision` to the agent. */
  decidePermission(permissionId: string, decision: { behavior: 'allow' | 'deny'; message?: string; decidedBy?: string }): RelayPermissionRequest;
  /** Status frames received from an agent, oldest first (kept in memory only). */
  statuses(agentId: string): ReceivedStatus[];
  /** Timeline frames received from an agent, oldest first (kept in memory only). */
  timeline(agentId: string): TimelineFrame[];
  /** Authenticated bus connections (of one agent, or all). */
  busConnections(agentId?: string): number;
  /** Request counters. */
  stats(): { requests: number; batchRequests: number; busConnectionsAccepted: number };
  /** Stop serving, flush state to the file, release everything. Idempotent. */
  close(): Promise<void>;
}

/**
 * An accepted event, as the relay dev server's inspection API lists it.
 * @public
 */
export interface DevServerEvent {
  /** Arrival order. */
  seq: number;
  /** Id of what was stored. */
  id: string;
  /** Agent that sent it. */
  agentId: string;
  /** Event kind. */
  kind: string;
  /** The idempotency key it arrived with. */
  idempotencyKey: string;
  /** Epoch ms the runner stamped. */
  occurredAt: number;
  /** Epoch ms the server stored it. */
  createdAt: number;
  /** The payload as received. */
  payload: unknown;
}

/**
 * What the relay dev server's `listMessages` may filter by.
 * @public
 */
export interface MessageFilter {
  /** Recipient name or agent id. */
  to?: string;
  /** Sender name or agent id. */
  from?: string;
  /** Kind. */
  kind?: RelayMessageKind;
}

/**
 * A new attachment handed to the relay dev server's `sendToAgent`.
 * @public
 */
export interface NewAttachment {
  /** File name. */
  name: string;
  /** MIME type. @defaultValue `'application/octet-stream'` */
  mediaType?: string;
  /** Bytes (strings are UTF-8 encoded). */
  content: string | Uint8Array;
}
