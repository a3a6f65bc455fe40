/**
 * The reference relay's HTTP routes (`docs/protocol.md` §5). Every body is decoded with its
 * protocol shape before a route sees it, so a route only ever handles checked values.
 */
import type { RelayAgent, RelayBatchItemResult } from '../../ports/relay-http.js';
import { RELAY_PROTOCOL_VERSION } from '../../ports/relay-http.js';
import type { Clock } from '../../ports/clock.js';
import { RELAY_HTTP_SHAPES as SHAPES } from '../../protocol/relay-codec.js';
import { RelayBatchItemSchema } from '../../protocol/relay-events.js';
import type { DevBus } from './bus.js';
import { HttpFailure, checked, decodeBody, decodeParam, type RouteResponse } from './http.js';
import type { DevState, ItemOutcome } from './state.js';

/** One route: method, path pattern, who may call it, and the shape of its body. */
export interface Route {
  method: string;
  pattern: RegExp;
  auth: 'none' | 'key' | 'agent' | 'agent-or-key';
  /** Path parameter (index into the match) that must be the caller's own agent id. */
  ownAgentParam?: number;
  handle(ctx: RequestContext): RouteResponse | Promise<RouteResponse>;
}

/** What a route handler gets. */
export interface RequestContext {
  params: string[];
  query: URLSearchParams;
  /** The request body as text; POST handlers decode it with their protocol shape (`decodeBody`). */
  raw: string;
  agent: RelayAgent | undefined;
  viaKey: boolean;
}

/** What the routes need from the server around them. */
export interface RouteDeps {
  state: DevState;
  clock: Clock;
  bus: DevBus;
  counters: { batchRequests: number };
  /** An injected per-item failure for the next batch item, if one is due. */
  takeItemFault(): HttpFailure | undefined;
}

const conflict = () => new HttpFailure(409, 'conflict', 'idempotency key was used for a different kind of event');

/** The route table of one reference relay. */
export function createRoutes({ state, clock, bus, counters, takeItemFault }: RouteDeps): Route[] {
  const requireAgent = (id: string): RelayAgent => {
    const agent = state.agent(decodeParam(id));
    if (!agent) throw new HttpFailure(404, 'not_found', 'no such agent');
    return agent;
  };

  /** Apply one event from a single-event route (envelope fields in the body itself). */
  const applyOne = (agent: RelayAgent, kind: string, sent: Record<string, unknown>, body: { idempotencyKey: string; occurredAt: number }) => {
    const { idempotencyKey: _k, occurredAt: _o, kind: _kind, ...payload } = sent;
    const outcome = state.tx(() => state.applyEvent(agent, kind, body.idempotencyKey, body.occurredAt, payload, 'body'));
    if (outcome.delivery) bus.push(outcome.delivery.agentId, { type: 'message.new', message: outcome.delivery.message });
    return outcome;
  };

  const batchItem = (agent: RelayAgent, index: number, item: unknown, deliveries: NonNullable<ItemOutcome['delivery']>[]): RelayBatchItemResult => {
    try {
      const fault = takeItemFault();
      if (fault) throw fault;
      const where = `items[${index}]`;
      const envelope = checked(RelayBatchItemSchema, item, where);
      const outcome = state.applyEvent(agent, envelope.kind, envelope.idempotencyKey, envelope.occurredAt, envelope.payload, `${where}.payload`);
      if (outcome.delivery) deliveries.push(outcome.delivery);
      const result: RelayBatchItemResult = { index, status: outcome.status };
      if (outcome.id) result.id = outcome.id;
      if (outcome.duplicate) result.duplicate = true;
      return result;
    } catch (error) {
      // Anything but a refusal is a server bug: let it roll back the whole batch and answer 500.
      if (!(error instanceof HttpFailure)) throw error;
      const result: RelayBatchItemResult = { index, status: error.status, error: { code: error.code, message: error.message } };
      if (error.retryAfterSeconds !== undefined) result.retryAfterSeconds = error.retryAfterSeconds;
      return result;
    }
  };

  return [
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
      handle: ({ raw }) => {
        const input = decodeBody(SHAPES['register.request'], raw).value;
        const { agent, created } = state.tx(() => state.register(input));
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
        bus.closeAgent(agent.id, 'agent_deleted', 'agent was deleted', 4410);
        return { status: 200, body: { deleted: true } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/agents\/([^/]+)\/heartbeat$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent, raw }) => {
        decodeBody(SHAPES['heartbeat.request'], raw);
        state.touch(agent!.id);
        return { status: 200, body: { serverTime: clock.now() } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/agents\/([^/]+)\/token$/,
      auth: 'agent-or-key',
      ownAgentParam: 0,
      handle: ({ params, raw }) => {
        decodeBody(SHAPES['token.request'], raw);
        return { status: 200, body: state.issueToken(requireAgent(params[0]!).id) };
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
      handle: ({ agent, raw }) => {
        const { ids } = decodeBody(SHAPES['markRead.request'], raw).value;
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
      handle: ({ agent, raw }) => {
        const { value: input, sent } = decodeBody(SHAPES['message.request'], raw);
        const outcome = applyOne(agent!, input.kind ?? 'message', sent, input);
        const message = state.message(outcome.id!);
        if (!message) throw conflict();
        return { status: outcome.status, body: { message, duplicate: outcome.duplicate === true } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/events\/batch$/,
      auth: 'agent',
      handle: ({ agent, raw }) => {
        counters.batchRequests += 1;
        const { items } = decodeBody(SHAPES['batch.request'], raw).value;
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
        for (const d of deliveries) bus.push(d.agentId, { type: 'message.new', message: d.message });
        return { status: 200, body: { results, notAttempted } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/tasks\/([^/]+)\/status$/,
      auth: 'agent',
      handle: ({ agent, raw, params }) => {
        const taskId = decodeParam(params[0]!);
        const { value, sent } = decodeBody(SHAPES['taskStatus.request'], raw);
        const outcome = applyOne(agent!, 'task_status', { ...sent, taskId }, value);
        const task = state.task(taskId);
        if (!task) throw conflict();
        return { status: outcome.status, body: { task, duplicate: outcome.duplicate === true } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/insights$/,
      auth: 'agent',
      handle: ({ agent, raw }) => {
        const { value, sent } = decodeBody(SHAPES['insight.request'], raw);
        const outcome = applyOne(agent!, 'insight', sent, value);
        return { status: outcome.status, body: { id: outcome.id, duplicate: outcome.duplicate === true } };
      },
    },
    {
      method: 'POST',
      pattern: /^\/v1\/agents\/([^/]+)\/permissions$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent, raw }) => {
        const input = decodeBody(SHAPES['permission.request'], raw).value;
        const { permission, created } = state.tx(() => state.createPermission(agent!, input));
        return { status: created ? 201 : 200, body: { permission } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/agents\/([^/]+)\/permissions\/([^/]+)$/,
      auth: 'agent',
      ownAgentParam: 0,
      handle: ({ agent, params }) => {
        const permission = state.permission(decodeParam(params[1]!));
        if (!permission || permission.agentId !== agent!.id) throw new HttpFailure(404, 'not_found', 'no such permission request');
        return { status: 200, body: { permission } };
      },
    },
    {
      method: 'GET',
      pattern: /^\/v1\/attachments\/([^/]+)$/,
      auth: 'agent',
      handle: ({ params }) => {
        const found = state.attachment(decodeParam(params[0]!));
        if (!found) throw new HttpFailure(404, 'not_found', 'no such attachment');
        return { status: 200, raw: { contentType: found.mediaType, data: found.data } };
      },
    },
  ];
}
