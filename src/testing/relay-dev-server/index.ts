/**
 * The reference relay server: protocol v1 (`docs/protocol.md`) over real `node:http` and `ws` on
 * loopback, state in sql.js (memory or a file), plus an inspection API and fault injection for tests.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import initSqlJs from 'sql.js';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Clock, TimerHandle } from '../../ports/clock.js';
import type {
  AgentProfile,
  Obligation,
  RelayAgent,
  RelayBatchItemResult,
  RelayMessage,
  RelayPermissionRequest,
  RelayTask,
} from '../../ports/relay-http.js';
import { RELAY_PROTOCOL_VERSION } from '../../ports/relay-http.js';
import type { RunnerStatusSnapshot, ServerFrame, TimelineFrame } from '../../ports/relay-bus.js';
import { createSystemClock } from '../../adapters/system-clock.js';
import { ClosedError, InvalidArgumentError, RunnerError } from '../../errors/index.js';
import { DevState, newId, type DevServerEvent, type MessageFilter, type NewAttachment, type NewMessage, type ItemOutcome } from './state.js';
import { HttpFailure, obj, optStr, reqEnum, reqStrArray, reqTime, reqStr } from './validate.js';

export type { DevServerEvent, MessageFilter, NewAttachment } from './state.js';

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
  /** Open obligations of an agent. */
  obligations(agentId: string): Obligation[];
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

interface BusConn {
  ws: WebSocket;
  agentId: string | undefined;
  helloTimer: TimerHandle | undefined;
}

interface PendingCommand {
  agentId: string;
  frame: Extract<ServerFrame, { type: 'command' }>;
  sent: boolean;
  timer: TimerHandle;
  resolve: (outcome: DevCommandOutcome) => void;
  reject: (error: Error) => void;
}

interface RequestFault {
  remaining: number;
  status: number;
  retryAfterSeconds: number | undefined;
  path: string | RegExp | undefined;
}

interface Route {
  method: string;
  pattern: RegExp;
  auth: 'none' | 'key' | 'agent' | 'agent-or-key';
  /** Path parameter (index into the match) that must be the caller's own agent id. */
  ownAgentParam?: number;
  handle(ctx: RequestContext): Response | Promise<Response>;
}

interface RequestContext {
  params: string[];
  query: URLSearchParams;
  body: unknown;
  agent: RelayAgent | undefined;
  viaKey: boolean;
}

interface Response {
  status: number;
  body?: unknown;
  raw?: { contentType: string; data: Uint8Array };
}

const PROTOCOL_HEADER = 'x-relay-protocol';
const BUS_PATH = '/v1/bus';

/**
 * Start a reference relay on 127.0.0.1.
 * @remarks A test server: simple and strict, not fast or secure. State is written to `path` a few
 * milliseconds after each change and on `close()`; a crash can lose the last few ms of changes.
 * @public
 */
export async function createRelayDevServer(options: RelayDevServerOptions = {}): Promise<RelayDevServer> {
  const clock = options.clock ?? createSystemClock();
  const timers = createSystemClock();
  const apiKey = options.apiKey ?? 'dev-workspace-key';
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const helloTimeoutMs = options.helloTimeoutMs ?? 10_000;
  const persistDebounceMs = options.persistDebounceMs ?? 20;
  const host = options.host ?? '127.0.0.1';
  // A wildcard bind is reached through loopback from this machine; anything else by its own address.
  const urlHost = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  if (apiKey.length === 0) throw new InvalidArgumentError('relay dev server apiKey must not be empty');

  const SQL = await initSqlJs();
  const path = options.path;
  let initial: Uint8Array | undefined;
  if (path && existsSync(path)) initial = new Uint8Array(readFileSync(path));
  const db = new SQL.Database(initial);
  const state = new DevState(db, () => clock.now(), {
    tokenTtlMs: options.tokenTtlMs ?? 3600_000,
    insightsEnabled: options.insightsEnabled ?? true,
    profiles: options.profiles ?? {},
  });

  // ---- persistence -------------------------------------------------------------------------
  let persistTimer: TimerHandle | undefined;
  const persistNow = () => {
    timers.clearTimeout(persistTimer);
    persistTimer = undefined;
    if (!path) return;
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, db.export(), { mode: 0o600 });
    renameSync(tmp, path);
  };
  const schedulePersist = () => {
    if (!path || persistTimer) return;
    persistTimer = timers.setTimeout(persistNow, persistDebounceMs);
  };

  // ---- fault state -------------------------------------------------------------------------
  let latencyMs = 0;
  let isDown = false;
  let isHung = false;
  let requestFaults: RequestFault[] = [];
  let itemFaults: { skip: number; remaining: number; status: number; retryAfterSeconds: number | undefined } | undefined;
  let loseFaults: Array<{ remaining: number; path: string | RegExp | undefined }> = [];
  const heldRequests = new Set<ServerResponse>();
  const heldUpgrades = new Set<Socket>();
  const sockets = new Set<Socket>();
  const counters = { requests: 0, batchRequests: 0, busConnectionsAccepted: 0 };

  const matches = (p: string | RegExp | undefined, url: string) =>
    p === undefined || (typeof p === 'string' ? url.includes(p) : p.test(url));

  // ---- bus ---------------------------------------------------------------------------------
  const conns = new Set<BusConn>();
  const pendingCommands = new Map<string, PendingCommand>();
  const statuses = new Map<string, ReceivedStatus[]>();
  const timelines = new Map<string, TimelineFrame[]>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: maxBodyBytes });

  const sendFrame = (conn: BusConn, frame: ServerFrame) => {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(JSON.stringify(frame));
  };
  const pushToAgent = (agentId: string, frame: ServerFrame) => {
    for (const conn of conns) if (conn.agentId === agentId) sendFrame(conn, frame);
  };
  const flushCommands = (agentId: string) => {
    for (const pending of pendingCommands.values()) {
      if (pending.agentId !== agentId || pending.sent) continue;
      const target = [...conns].find((c) => c.agentId === agentId);
      if (!target) return;
      pending.sent = true;
      sendFrame(target, pending.frame);
    }
  };
  const busError = (conn: BusConn, code: string, message: string, closeCode?: number) => {
    sendFrame(conn, { type: 'error', code, message, ...(closeCode ? { fatal: true } : {}) });
    if (closeCode) conn.ws.close(closeCode, code);
  };

  const onBusFrame = (conn: BusConn, raw: RawData) => {
    if (isHung) return; // a hung relay swallows everything, pings included
    let frame: Record<string, unknown>;
    try {
      frame = obj(JSON.parse(rawToString(raw)), 'frame');
    } catch {
      busError(conn, 'bad_frame', 'frame is not a JSON object');
      return;
    }
    const type = frame['type'];
    if (conn.agentId === undefined) {
      if (type !== 'hello') return busError(conn, 'hello_required', 'first frame must be hello', 4400);
      if (frame['protocol'] !== RELAY_PROTOCOL_VERSION) {
        return busError(conn, 'protocol_mismatch', `client speaks protocol ${String(frame['protocol'])}; server speaks ${RELAY_PROTOCOL_VERSION}`, 4426);
      }
      try {
        const agent = state.checkToken(typeof frame['token'] === 'string' ? frame['token'] : '');
        if (agent.id !== frame['agentId']) throw new HttpFailure(403, 'forbidden', 'token belongs to another agent');
        conn.agentId = agent.id;
        timers.clearTimeout(conn.helloTimer);
        counters.busConnectionsAccepted += 1;
        sendFrame(conn, { type: 'welcome', protocol: RELAY_PROTOCOL_VERSION, agentId: agent.id, serverTime: clock.now() });
        flushCommands(agent.id);
      } catch (error) {
        const f = error instanceof HttpFailure ? error : new HttpFailure(401, 'unauthorized', 'hello refused');
        busError(conn, f.code, f.message, 4401);
      }
      return;
    }
    const agentId = conn.agentId;
    switch (type) {
      case 'ping':
        sendFrame(conn, { type: 'pong', id: typeof frame['id'] === 'string' ? frame['id'] : '', serverTime: clock.now() });
        return;
      case 'status': {
        const status = frame['status'];
        if (typeof status !== 'object' || status === null) return busError(conn, 'bad_frame', 'status.status must be an object');
        const list = statuses.get(agentId) ?? [];
        list.push({ receivedAt: clock.now(), status: status as RunnerStatusSnapshot });
        if (list.length > 1000) list.shift();
        statuses.set(agentId, list);
        return;
      }
      case 'timeline': {
        if (typeof frame['event'] !== 'string') return busError(conn, 'bad_frame', 'timeline.event must be a string');
        const list = timelines.get(agentId) ?? [];
        list.push(frame as unknown as TimelineFrame);
        if (list.length > 5000) list.shift();
        timelines.set(agentId, list);
        return;
      }
      case 'command.result': {
        const pending = typeof frame['id'] === 'string' ? pendingCommands.get(frame['id']) : undefined;
        if (!pending || pending.agentId !== agentId) return busError(conn, 'unknown_command', 'command.result names no pending command');
        pendingCommands.delete(pending.frame.id);
        timers.clearTimeout(pending.timer);
        pending.resolve(
          frame['ok'] === true
            ? { ok: true, result: frame['result'] }
            : { ok: false, error: typeof frame['error'] === 'string' ? frame['error'] : 'command failed' },
        );
        return;
      }
      case 'hello':
        return busError(conn, 'bad_frame', 'already authenticated');
      default:
        return busError(conn, 'bad_frame', `unknown frame type "${String(type).slice(0, 40)}"`);
    }
  };

  wss.on('connection', (ws: WebSocket) => {
    const conn: BusConn = { ws, agentId: undefined, helloTimer: undefined };
    conns.add(conn);
    conn.helloTimer = timers.setTimeout(() => {
      if (conn.agentId === undefined) busError(conn, 'hello_timeout', 'no hello received in time', 4408);
    }, helloTimeoutMs);
    ws.on('message', (raw) => onBusFrame(conn, raw));
    ws.on('error', () => {});
    ws.on('close', () => {
      timers.clearTimeout(conn.helloTimer);
      conns.delete(conn);
    });
  });

  // ---- HTTP --------------------------------------------------------------------------------
  const routes: Route[] = [
    {
      method: 'GET',
      pattern: /^\/v1\/health$/,
      auth: 'none',
      handle: () => ({ status: 200, body: { ok: true, protocol: RELAY_PROTOCOL_VERSION, serverTime: clock.now() } }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/agents$/,
      auth: 'key',
      handle: ({ body }) => {
        const { agent, created } = state.tx(() => state.register(body));
        const grant = state.issueToken(agent.id);
        return { status: created ? 201 : 200, body: { agent, ...grant, profile: state.profileFor(agent.name) } };
      },
    },
    {
      method: 'DELETE',
      pattern: /^\/v1\/agents\/([^/]+)$/,
      auth: 'agent-or-key',
      ownAgentParam: 0,
      handle: ({ params }) => {
        const agent = requireAgent(params[0]!);
        state.deleteAgent(agent.id);
        for (const conn of conns) if (conn.agentId === agent.id) busError(conn, 'agent_deleted', 'agent was deleted', 4410);
        return { status: 200, body: { deleted: true } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/agents\/([^/]+)\/heartbeat$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent }) => {
        state.touch(agent!.id);
        return { status: 200, body: { serverTime: clock.now() } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/agents\/([^/]+)\/token$/,
      auth: 'agent-or-key',
      ownAgentParam: 0,
      handle: ({ params }) => {
        const agent = requireAgent(params[0]!);
        return { status: 200, body: state.issueToken(agent.id) };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/agents\/([^/]+)\/messages\/unread$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent, query }) => {
        const limitText = query.get('limit');
        const limit = limitText === null ? 100 : Number(limitText);
        if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpFailure(400, 'invalid_query', 'limit must be an integer in 1..1000');
        return { status: 200, body: { messages: state.unread(agent!.id, limit) } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/agents\/([^/]+)\/messages\/read$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent, body }) => {
        const ids = reqStrArray(obj(body, 'body'), 'ids', 'body', 1000);
        return { status: 200, body: { marked: state.tx(() => state.markRead(agent!.id, ids)) } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/agents\/([^/]+)\/obligations$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent }) => ({ status: 200, body: { obligations: state.obligations(agent!.id) } }),
    },
    {
      method: 'POST',
      pattern: /^\/v1\/messages$/,
      auth: 'agent',
      handle: ({ agent, body }) => {
        const o = obj(body, 'body');
        const kind = o['kind'] === undefined ? 'message' : reqEnum(o, 'kind', 'body', ['message', 'session'] as const);
        const outcome = applyOne(agent!, kind, o);
        const message = state.message(outcome.id!);
        if (!message) throw new HttpFailure(409, 'conflict', 'idempotency key was used for a different kind of event');
        return { status: outcome.status, body: { message, duplicate: outcome.duplicate === true } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/events\/batch$/,
      auth: 'agent',
      handle: ({ agent, body }) => {
        counters.batchRequests += 1;
        const o = obj(body, 'body');
        const items = o['items'];
        if (!Array.isArray(items)) throw new HttpFailure(400, 'invalid_body', 'body.items must be an array');
        if (items.length > 1000) throw new HttpFailure(400, 'invalid_body', 'body.items must have at most 1000 items');
        const results: RelayBatchItemResult[] = [];
        const deliveries: NonNullable<ItemOutcome['delivery']>[] = [];
        const notAttempted = state.tx(() => {
          state.touch(agent!.id);
          for (const [index, item] of items.entries()) {
            const result = batchItem(agent!, index, item, deliveries);
            results.push(result);
            if (result.status === 408 || result.status === 429 || result.status >= 500) return items.length - index - 1;
          }
          return 0;
        });
        // Pushed only after the commit, so a runner never sees a message the relay could still lose.
        for (const d of deliveries) pushToAgent(d.agentId, { type: 'message.new', message: d.message });
        return { status: 200, body: { results, notAttempted } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/tasks\/([^/]+)\/status$/,
      auth: 'agent',
      handle: ({ agent, body, params }) => {
        const o = obj(body, 'body');
        const outcome = applyOne(agent!, 'task_status', { ...o, taskId: decodeURIComponent(params[0]!) });
        const task = state.task(decodeURIComponent(params[0]!));
        if (!task) throw new HttpFailure(409, 'conflict', 'idempotency key was used for a different kind of event');
        return { status: outcome.status, body: { task, duplicate: outcome.duplicate === true } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/insights$/,
      auth: 'agent',
      handle: ({ agent, body }) => {
        const outcome = applyOne(agent!, 'insight', obj(body, 'body'));
        return { status: outcome.status, body: { id: outcome.id, duplicate: outcome.duplicate === true } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/agents\/([^/]+)\/permissions$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent, body }) => {
        const { permission, created } = state.tx(() => state.createPermission(agent!, body));
        return { status: created ? 201 : 200, body: { permission } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/agents\/([^/]+)\/permissions\/([^/]+)$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent, params }) => {
        const permission = state.permission(decodeURIComponent(params[1]!));
        if (!permission || permission.agentId !== agent!.id) throw new HttpFailure(404, 'not_found', 'no such permission request');
        return { status: 200, body: { permission } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/attachments\/([^/]+)$/,
      auth: 'agent',
      handle: ({ params }) => {
        const found = state.attachment(decodeURIComponent(params[0]!));
        if (!found) throw new HttpFailure(404, 'not_found', 'no such attachment');
        return { status: 200, raw: { contentType: found.mediaType, data: found.data } };
      },
    },
  ];

  // Not protocol: a dev-only window for the `chat` command (docs/cli.md), which lets a person see
  // what production relays show in their dashboard: session-mirror entries and agent status.
  routes.push({
    method: 'GET',
    pattern: /^\/dev\/feed$/,
    auth: 'key',
    handle: ({ query }) => {
      const after = Number(query.get('after') ?? '0');
      if (!Number.isSafeInteger(after) || after < 0) throw new HttpFailure(400, 'invalid_query', 'after must be a non-negative integer');
      const all = state.listMessages();
      const messages = all.filter((m) => m.seq > after).slice(0, 500);
      const agents = state.listAgents().map((agent) => ({
        id: agent.id,
        name: agent.name,
        connected: [...conns].some((c) => c.agentId === agent.id),
        status: statuses.get(agent.id)?.at(-1)?.status,
      }));
      return { status: 200, body: { messages, agents, lastSeq: all.at(-1)?.seq ?? 0 } };
    },
  });

  const requireAgent = (id: string): RelayAgent => {
    const agent = state.agent(decodeURIComponent(id));
    if (!agent) throw new HttpFailure(404, 'not_found', 'no such agent');
    return agent;
  };

  /** Apply one event from a single-event route (envelope fields in the body itself). */
  const applyOne = (agent: RelayAgent, kind: string, o: Record<string, unknown>) => {
    const idempotencyKey = reqStr(o, 'idempotencyKey', 'body', { min: 1, max: 512 });
    const occurredAt = reqTime(o, 'occurredAt', 'body');
    const { idempotencyKey: _k, occurredAt: _o, kind: _kind, ...payload } = o;
    const outcome = state.tx(() => state.applyEvent(agent, kind, idempotencyKey, occurredAt, payload, 'body'));
    if (outcome.delivery) pushToAgent(outcome.delivery.agentId, { type: 'message.new', message: outcome.delivery.message });
    return outcome;
  };

  const batchItem = (
    agent: RelayAgent,
    index: number,
    item: unknown,
    deliveries: NonNullable<ItemOutcome['delivery']>[],
  ): RelayBatchItemResult => {
    try {
      if (itemFaults && itemFaults.skip > 0) itemFaults.skip -= 1;
      else if (itemFaults && itemFaults.remaining > 0) {
        itemFaults.remaining -= 1;
        const f = itemFaults;
        if (f.remaining === 0) itemFaults = undefined;
        throw new HttpFailure(f.status, 'injected_fault', `injected failure ${f.status}`, f.retryAfterSeconds);
      }
      const o = obj(item, `items[${index}]`);
      const kind = reqStr(o, 'kind', `items[${index}]`, { min: 1, max: 64 });
      const idempotencyKey = reqStr(o, 'idempotencyKey', `items[${index}]`, { min: 1, max: 512 });
      const occurredAt = reqTime(o, 'occurredAt', `items[${index}]`);
      const outcome = state.applyEvent(agent, kind, idempotencyKey, occurredAt, o['payload'], `items[${index}].payload`);
      if (outcome.delivery) deliveries.push(outcome.delivery);
      const result: RelayBatchItemResult = { index, status: outcome.status };
      if (outcome.id) result.id = outcome.id;
      if (outcome.duplicate) result.duplicate = true;
      return result;
    } catch (error) {
      // Anything but a refusal is a server bug: let it roll back the whole batch and answer 500.
      if (!(error instanceof HttpFailure)) throw error;
      const f = error;
      const result: RelayBatchItemResult = { index, status: f.status, error: { code: f.code, message: f.message } };
      if (f.retryAfterSeconds !== undefined) result.retryAfterSeconds = f.retryAfterSeconds;
      return result;
    }
  };

  const server: Server = createServer((req, res) => {
    void handleRequest(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (isHung) {
      heldUpgrades.add(socket);
      socket.on('close', () => heldUpgrades.delete(socket));
      return;
    }
    const pathname = (req.url ?? '').split('?')[0];
    if (pathname !== BUS_PATH) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.on('clientError', (_error, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    counters.requests += 1;
    const url = req.url ?? '/';
    if (isHung) {
      heldRequests.add(res);
      res.on('close', () => heldRequests.delete(res));
      req.resume();
      return;
    }
    if (latencyMs > 0) await new Promise<void>((resolve) => timers.setTimeout(resolve, latencyMs));
    if (closed) return void res.destroy();
    try {
      const fault = requestFaults.find((f) => f.remaining > 0 && matches(f.path, url));
      if (fault) {
        fault.remaining -= 1;
        requestFaults = requestFaults.filter((f) => f.remaining > 0);
        req.resume();
        throw new HttpFailure(fault.status, 'injected_fault', `injected failure ${fault.status}`, fault.retryAfterSeconds);
      }
      const parsed = new URL(url, 'http://relay.invalid');
      const method = req.method ?? 'GET';
      let match: RegExpExecArray | null = null;
      const route = routes.find((r) => (match = r.pattern.exec(parsed.pathname)) !== null && r.method === method);
      if (!route || !match) {
        req.resume();
        const known = routes.some((r) => r.pattern.test(parsed.pathname));
        throw known
          ? new HttpFailure(405, 'method_not_allowed', `${method} is not allowed on ${parsed.pathname}`)
          : new HttpFailure(404, 'not_found', `no route ${method} ${parsed.pathname.slice(0, 200)}`);
      }
      const params = (match as RegExpExecArray).slice(1);
      const raw = await readBody(req, maxBodyBytes);
      if (route.pattern.source !== '^\\/v1\\/health$') {
        const sent = req.headers[PROTOCOL_HEADER];
        if (sent !== String(RELAY_PROTOCOL_VERSION)) {
          throw new HttpFailure(
            400,
            'protocol_mismatch',
            sent === undefined
              ? `missing X-Relay-Protocol header; this server speaks protocol ${RELAY_PROTOCOL_VERSION}`
              : `client speaks protocol ${String(sent).slice(0, 20)}; this server speaks ${RELAY_PROTOCOL_VERSION}`,
          );
        }
      }
      const ctx: RequestContext = { params, query: parsed.searchParams, body: undefined, agent: undefined, viaKey: false };
      authenticate(route, req, ctx);
      if (method === 'POST') ctx.body = parseJson(raw);
      const response = await route.handle(ctx);
      if (method !== 'GET') schedulePersist();
      const lose = loseFaults.find((f) => f.remaining > 0 && matches(f.path, url));
      if (lose) {
        lose.remaining -= 1;
        loseFaults = loseFaults.filter((f) => f.remaining > 0);
        req.socket.destroy();
        return;
      }
      respond(res, response);
    } catch (error) {
      const f = toFailure(error);
      const headers: Record<string, string> = {};
      if (f.retryAfterSeconds !== undefined) headers['Retry-After'] = String(f.retryAfterSeconds);
      respond(res, { status: f.status, body: { error: { code: f.code, message: f.message } } }, headers);
    }
  }

  function authenticate(route: Route, req: IncomingMessage, ctx: RequestContext): void {
    if (route.auth === 'none') return;
    const header = req.headers.authorization;
    const bearer = typeof header === 'string' && /^Bearer /i.test(header) ? header.slice(7).trim() : undefined;
    if (!bearer) throw new HttpFailure(401, 'unauthorized', 'missing Authorization: Bearer header');
    if (route.auth !== 'agent' && bearer === apiKey) {
      ctx.viaKey = true;
      return;
    }
    if (route.auth === 'key') throw new HttpFailure(401, 'unauthorized', 'workspace API key required');
    ctx.agent = state.checkToken(bearer);
    if (route.ownAgentParam !== undefined && decodeURIComponent(ctx.params[route.ownAgentParam] ?? '') !== ctx.agent.id) {
      throw new HttpFailure(403, 'forbidden', 'token belongs to another agent');
    }
  }

  // ---- lifecycle ---------------------------------------------------------------------------
  let closed = false;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  const dropConnections = () => {
    for (const conn of conns) conn.ws.terminate();
    for (const res of heldRequests) res.destroy();
    for (const socket of heldUpgrades) socket.destroy();
    for (const socket of sockets) socket.destroy();
  };
  const stopListening = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      dropConnections();
    });

  const port = await listen(options.port ?? 0);

  const faults: RelayDevServerFaults = {
    latency(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new InvalidArgumentError('latency must be a non-negative number of ms');
      latencyMs = ms;
    },
    async down() {
      if (closed || isDown) return;
      isDown = true;
      await stopListening();
    },
    async up() {
      if (closed || !isDown) return;
      await listen(port);
      isDown = false;
    },
    hung(on = true) {
      isHung = on;
      if (!on) {
        // Held requests were never answered; their clients have timed out or will see a reset.
        for (const res of heldRequests) res.destroy();
        for (const socket of heldUpgrades) socket.destroy();
      }
    },
    failNext(count, status, opts = {}) {
      requestFaults.push({ remaining: count, status, retryAfterSeconds: opts.retryAfterSeconds, path: opts.path });
    },
    failNextItems(count, status, opts = {}) {
      itemFaults = { skip: opts.skip ?? 0, remaining: count, status, retryAfterSeconds: opts.retryAfterSeconds };
    },
    loseResponseAfterApply(count, opts = {}) {
      loseFaults.push({ remaining: count, path: opts.path });
    },
    dropBus() {
      for (const conn of conns) conn.ws.terminate();
    },
    expireToken(agentId) {
      state.expireTokens(agentId);
      schedulePersist();
    },
    async clear() {
      latencyMs = 0;
      requestFaults = [];
      itemFaults = undefined;
      loseFaults = [];
      faults.hung(false);
      await faults.up();
    },
  };

  const api: RelayDevServer = {
    url: `http://${urlHost}:${port}`,
    wsUrl: `ws://${urlHost}:${port}${BUS_PATH}`,
    port,
    apiKey,
    faults,
    commands: {
      send(agentId, name, args = {}, opts = {}) {
        if (closed) return Promise.reject(new ClosedError('relay dev server'));
        return new Promise<DevCommandOutcome>((resolve, reject) => {
          const id = newId('cmd');
          const timer = timers.setTimeout(() => {
            pendingCommands.delete(id);
            reject(new RunnerError('TIMEOUT', `command ${name} to ${agentId} got no result in time`));
          }, opts.timeoutMs ?? 10_000);
          pendingCommands.set(id, { agentId, frame: { type: 'command', id, name, args }, sent: false, timer, resolve, reject });
          flushCommands(agentId);
        });
      },
    },
    listAgents: () => state.listAgents(),
    listMessages: (filter) => state.listMessages(filter),
    listEvents: (filter) => state.listEvents(filter),
    sendToAgent(agentIdOrName, input) {
      const agent = state.findAgent(agentIdOrName);
      if (!agent) throw new InvalidArgumentError(`no agent ${agentIdOrName}`);
      const message = state.tx(() => {
        const attachments = (input.attachments ?? []).map((a) => state.storeAttachment(a));
        const stored: NewMessage = {
          kind: 'message',
          from: input.from,
          to: agent.id,
          body: input.body,
          expectsReply: input.expectsReply ?? false,
          occurredAt: clock.now(),
          attachments,
        };
        if (input.taskId) stored.taskId = input.taskId;
        if (input.replyTo) stored.replyTo = input.replyTo;
        return state.insertMessage(stored);
      });
      schedulePersist();
      pushToAgent(agent.id, { type: 'message.new', message });
      return message;
    },
    obligations: (agentId) => state.obligations(agentId),
    tasks: () => state.tasks(),
    permissions: (agentId) => state.permissions(agentId),
    decidePermission(permissionId, decision) {
      const permission = state.decide(permissionId, decision.behavior, decision.message, decision.decidedBy ?? 'user');
      schedulePersist();
      const frame: ServerFrame = { type: 'permission.decision', permissionId, requestId: permission.requestId, behavior: decision.behavior };
      if (decision.message) frame.message = decision.message;
      pushToAgent(permission.agentId, frame);
      return permission;
    },
    statuses: (agentId) => [...(statuses.get(agentId) ?? [])],
    timeline: (agentId) => [...(timelines.get(agentId) ?? [])],
    busConnections: (agentId) => [...conns].filter((c) => c.agentId !== undefined && (agentId === undefined || c.agentId === agentId)).length,
    stats: () => ({ ...counters }),
    async close() {
      if (closed) return;
      closed = true;
      for (const pending of pendingCommands.values()) {
        timers.clearTimeout(pending.timer);
        pending.reject(new ClosedError('relay dev server'));
      }
      pendingCommands.clear();
      await stopListening();
      dropConnections();
      wss.close();
      persistNow();
      state.close();
      db.close();
    },
  };
  return api;
}

function toFailure(error: unknown): HttpFailure {
  if (error instanceof HttpFailure) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new HttpFailure(500, 'internal', `internal error: ${message.split('\n')[0]!.slice(0, 200)}`);
}

function parseJson(raw: string): unknown {
  if (raw.length === 0) throw new HttpFailure(400, 'invalid_json', 'request body is empty; send a JSON object');
  try {
    return JSON.parse(raw) as unknown;
  } catch (error) {
    throw new HttpFailure(400, 'invalid_json', `malformed JSON: ${(error as Error).message.split('\n')[0]!.slice(0, 120)}`);
  }
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        tooLarge = true;
        chunks.length = 0;
        // Keep reading (discarding) so the client sees the 413 instead of a reset, within reason.
        if (size > max * 8) req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (tooLarge) reject(new HttpFailure(413, 'body_too_large', `request body exceeds ${max} bytes`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

function respond(res: ServerResponse, response: Response, extraHeaders: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  if (response.raw) {
    res.writeHead(response.status, { 'Content-Type': response.raw.contentType, 'Content-Length': response.raw.data.length, ...extraHeaders });
    res.end(Buffer.from(response.raw.data));
    return;
  }
  const text = response.body === undefined ? '' : JSON.stringify(response.body);
  res.writeHead(response.status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...extraHeaders,
  });
  res.end(text);
}

function rawToString(raw: RawData): string {
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  if (raw instanceof ArrayBuffer) return Buffer.from(raw).toString('utf8');
  return raw.toString('utf8');
}
