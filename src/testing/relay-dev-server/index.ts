/**
 * The reference relay server: protocol v1 (`docs/protocol.md`) over real `node:http` and `ws` on
 * loopback, state in sql.js (memory or a file), plus an inspection API and fault injection for tests.
 * Every body and frame it accepts is checked with the protocol schemas of `src/protocol/`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import initSqlJs from 'sql.js';
import type { TimerHandle } from '../../ports/clock.js';
import { RELAY_PROTOCOL_VERSION } from '../../ports/relay-http.js';
import { createSystemClock } from '../../adapters/system-clock.js';
import { ClosedError, InvalidArgumentError } from '../../errors/index.js';
import { DevState, type NewMessage } from './state.js';
import { DevBus } from './bus.js';
import { HttpFailure, decodeParam, readBody, respond, toFailure } from './http.js';
import { createRoutes, type RequestContext, type Route } from './routes.js';
import type { RelayDevServer, RelayDevServerFaults, RelayDevServerOptions } from './types.js';
import type { PermissionDecisionFrame } from '../../ports/relay-bus.js';
import type { AgentProfile } from '../../ports/relay-http.js';

export type {
  DevServerEvent,
  MessageFilter,
  NewAttachment,
  RelayDevServerOptions,
  DevCommandOutcome,
  ReceivedStatus,
  FaultMatch,
  RelayDevServerFaults,
  RelayDevServer,
} from './types.js';

interface RequestFault {
  remaining: number;
  status: number;
  retryAfterSeconds: number | undefined;
  path: string | RegExp | undefined;
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
  const profiles: Record<string, Partial<AgentProfile>> = { ...(options.profiles ?? {}) };
  const state = new DevState(db, () => clock.now(), {
    tokenTtlMs: options.tokenTtlMs ?? 3600_000,
    insightsEnabled: options.insightsEnabled ?? true,
    profiles,
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

  // ---- bus and routes ----------------------------------------------------------------------
  const bus = new DevBus({
    state,
    clock,
    timers,
    helloTimeoutMs,
    maxPayload: maxBodyBytes,
    isHung: () => isHung,
    onAccepted: () => {
      counters.busConnectionsAccepted += 1;
    },
  });
  const takeItemFault = (): HttpFailure | undefined => {
    if (!itemFaults) return undefined;
    if (itemFaults.skip > 0) {
      itemFaults.skip -= 1;
      return undefined;
    }
    const f = itemFaults;
    f.remaining -= 1;
    if (f.remaining <= 0) itemFaults = undefined;
    return new HttpFailure(f.status, 'injected_fault', `injected failure ${f.status}`, f.retryAfterSeconds);
  };
  const routes: Route[] = createRoutes({ state, clock, bus, counters, takeItemFault });
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
        connected: bus.isConnected(agent.id),
        status: bus.statuses(agent.id).at(-1)?.status,
      }));
      return { status: 200, body: { messages, agents, lastSeq: all.at(-1)?.seq ?? 0 } };
    },
  });

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
    bus.wss.handleUpgrade(req, socket, head, (ws) => bus.wss.emit('connection', ws, req));
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
      const ctx: RequestContext = { params, query: parsed.searchParams, raw, agent: undefined, viaKey: false };
      authenticate(route, req, ctx);
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
    if (route.ownAgentParam !== undefined && decodeParam(ctx.params[route.ownAgentParam] ?? '') !== ctx.agent.id) {
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
    bus.terminateAll();
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
      bus.terminateAll();
    },
    rawFrame(agentId, text) {
      return bus.pushRaw(agentId, text);
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
        return bus.command(agentId, name, args, opts.timeoutMs ?? 10_000);
      },
    },
    listAgents: () => state.listAgents(),
    listMessages: (filter) => state.listMessages(filter),
    listEvents: (filter) => state.listEvents(filter),
    setProfile(name, profile) {
      if (profile === undefined) delete profiles[name];
      else profiles[name] = { ...profile };
    },
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
      bus.push(agent.id, { type: 'message.new', message });
      return message;
    },
    obligations: (agentId) => state.obligations(agentId),
    unread(agentIdOrName) {
      const agent = state.findAgent(agentIdOrName);
      return agent ? state.unread(agent.id, 10_000) : [];
    },
    tasks: () => state.tasks(),
    permissions: (agentId) => state.permissions(agentId),
    decidePermission(permissionId, decision) {
      const permission = state.decide(permissionId, decision.behavior, decision.message, decision.decidedBy ?? 'user');
      schedulePersist();
      const frame: PermissionDecisionFrame = { type: 'permission.decision', permissionId, requestId: permission.requestId, behavior: decision.behavior };
      if (decision.message) frame.message = decision.message;
      bus.push(permission.agentId, frame);
      return permission;
    },
    statuses: (agentId) => bus.statuses(agentId),
    timeline: (agentId) => bus.timeline(agentId),
    busConnections: (agentId) => bus.connections(agentId),
    stats: () => ({ ...counters }),
    async close() {
      if (closed) return;
      closed = true;
      await stopListening();
      dropConnections();
      bus.close();
      persistNow();
      state.close();
      db.close();
    },
  };
  return api;
}
