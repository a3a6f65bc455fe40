/**
 * The reference relay's state, in sql.js. Synchronous on purpose: a request is applied in one
 * go, so "applied" and "persisted-on-flush" have a single, simple meaning.
 */
import { randomBytes } from 'node:crypto';
import type { Database, SqlValue } from 'sql.js';
import type {
  AgentProfile,
  Obligation,
  RegisterAgentInput,
  RelayAgent,
  RelayAttachment,
  RelayMessage,
  RelayMessageKind,
  RelayPermissionRequest,
  RelayPermissionRequestInput,
  RelayTask,
  SessionEventPayload,
} from '../../ports/relay-http.js';
import { MessageEventPayloadSchema, SessionEventPayloadSchema } from '../../protocol/relay-messages.js';
import {
  HookFatalPayloadSchema,
  InsightPayloadSchema,
  RelayEventKindSchema,
  TaskStatusPayloadSchema,
} from '../../protocol/relay-events.js';
import { HttpFailure, checked } from './http.js';
import { SqlDb } from './sql.js';
import { toAgent, toMessage, toPermission, toTask } from './rows.js';
import type { DevServerEvent, MessageFilter, NewAttachment } from './types.js';

/** Outcome of applying one event. */
export interface ItemOutcome {
  status: number;
  id?: string;
  duplicate?: boolean;
  /** A freshly stored message for an agent's inbox, to be pushed on its bus. */
  delivery?: { agentId: string; message: RelayMessage };
}

/** A message to store. */
export interface NewMessage {
  kind: RelayMessageKind;
  from: string;
  fromAgentId?: string;
  to: string;
  body: string;
  replyTo?: string;
  taskId?: string;
  expectsReply: boolean;
  entry?: string;
  occurredAt: number;
  attachments: RelayAttachment[];
}




// Ids are a random per-process stem plus a counter: unique across restarts of a file-backed
// server, and far cheaper than fresh random bytes per id on the batch route's hot path.
const ID_STEM = randomBytes(6).toString('hex');
let idCounter = 0;

/** A unique id with a prefix (`msg_…`). Not a secret: tokens use fresh random bytes instead. */
export function newId(prefix: string): string {
  idCounter += 1;
  return `${prefix}_${ID_STEM}${idCounter.toString(36).padStart(6, '0')}`;
}

/** The relay's state over one sql.js database. */
export class DevState extends SqlDb {
  constructor(
    db: Database,
    private readonly now: () => number,
    private readonly options: { tokenTtlMs: number; insightsEnabled: boolean; profiles: Record<string, Partial<AgentProfile>> },
  ) {
    super(db);
    this.#lastMessageSeq = (this.get('SELECT COALESCE(MAX(seq), 0) AS seq FROM messages')?.['seq'] as number) ?? 0;
  }

  /** Message seqs are assigned here, so a stored message need not be read back for its seq. */
  #lastMessageSeq: number;


  // ---- agents and tokens -------------------------------------------------------------------
  profileFor(name: string): AgentProfile {
    const custom = this.options.profiles[name] ?? {};
    return {
      ...custom,
      features: {
        relayContext: true,
        insights: this.options.insightsEnabled,
        sessionMirror: true,
        ...(custom.features ?? {}),
      },
    };
  }

  register(input: RegisterAgentInput): { agent: RelayAgent; created: boolean } {
    const { name, provider, metadata } = input;
    const now = this.now();
    this.#agentCache.clear();
    const existing = this.get('SELECT id FROM agents WHERE name = ? AND deleted_at IS NULL', [name]);
    if (existing) {
      this.run('UPDATE agents SET provider = ?, metadata = ?, last_seen_at = ? WHERE id = ?', [
        provider ?? null,
        metadata ? JSON.stringify(metadata) : null,
        now,
        existing['id'] as string,
      ]);
      return { agent: this.agent(existing['id'] as string)!, created: false };
    }
    const id = newId('agt');
    this.run('INSERT INTO agents (id, name, provider, metadata, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?)', [
      id,
      name,
      provider ?? null,
      metadata ? JSON.stringify(metadata) : null,
      now,
      now,
    ]);
    return { agent: this.agent(id)!, created: true };
  }

  agent(id: string): RelayAgent | undefined {
    const row = this.get('SELECT * FROM agents WHERE id = ? AND deleted_at IS NULL', [id]);
    return row ? toAgent(row) : undefined;
  }

  /** Recipient lookups by id or name; every message asks, agents rarely change. Cleared on change. */
  readonly #agentCache = new Map<string, RelayAgent | undefined>();

  /** An agent by id or name. */
  findAgent(idOrName: string): RelayAgent | undefined {
    if (this.#agentCache.has(idOrName)) return this.#agentCache.get(idOrName);
    const found = this.#findAgentUncached(idOrName);
    if (this.#agentCache.size > 10_000) this.#agentCache.clear();
    this.#agentCache.set(idOrName, found);
    return found;
  }

  #findAgentUncached(idOrName: string): RelayAgent | undefined {
    const row = this.get('SELECT * FROM agents WHERE (id = ? OR name = ?) AND deleted_at IS NULL ORDER BY id = ? DESC', [
      idOrName,
      idOrName,
      idOrName,
    ]);
    return row ? toAgent(row) : undefined;
  }

  listAgents(): RelayAgent[] {
    return this.all('SELECT * FROM agents WHERE deleted_at IS NULL ORDER BY created_at, id').map(toAgent);
  }

  deleteAgent(id: string): void {
    this.#agentCache.clear();
    this.run('UPDATE agents SET deleted_at = ? WHERE id = ?', [this.now(), id]);
    this.run('UPDATE tokens SET revoked = 1 WHERE agent_id = ?', [id]);
  }

  touch(id: string): void {
    this.run('UPDATE agents SET last_seen_at = ? WHERE id = ?', [this.now(), id]);
  }

  issueToken(agentId: string): { token: string; tokenExpiresAt: number } {
    const token = `rt_${randomBytes(24).toString('hex')}`;
    const tokenExpiresAt = this.now() + this.options.tokenTtlMs;
    this.run('INSERT INTO tokens (token, agent_id, expires_at) VALUES (?, ?, ?)', [token, agentId, tokenExpiresAt]);
    return { token, tokenExpiresAt };
  }

  /** The agent a token belongs to, or a 401 saying why not. */
  checkToken(token: string): RelayAgent {
    const row = this.get('SELECT agent_id, expires_at, revoked FROM tokens WHERE token = ?', [token]);
    if (!row) throw new HttpFailure(401, 'unauthorized', 'unknown bearer token');
    if (row['revoked']) throw new HttpFailure(401, 'token_revoked', 'token was revoked (agent deleted)');
    if ((row['expires_at'] as number) <= this.now()) throw new HttpFailure(401, 'token_expired', 'token expired; renew it');
    const agent = this.agent(row['agent_id'] as string);
    if (!agent) throw new HttpFailure(401, 'token_revoked', 'agent of this token no longer exists');
    return agent;
  }

  /** Fault injection: make tokens (of one agent, or all) expire now. */
  expireTokens(agentId?: string): void {
    const at = this.now();
    if (agentId) this.run('UPDATE tokens SET expires_at = ? WHERE agent_id = ? AND expires_at > ?', [at, agentId, at]);
    else this.run('UPDATE tokens SET expires_at = ? WHERE expires_at > ?', [at, at]);
  }

  // ---- events ------------------------------------------------------------------------------
  /**
   * Apply one event for `agent`, deduped on (agent, idempotency key). Call it inside `tx()`.
   * @remarks Every kind validates its whole input before its first write, so a refused item
   * (an `HttpFailure`) leaves nothing behind without a savepoint per item — savepoints doubled the
   * batch route's statement count. Any other error is a bug: the caller's transaction rolls back.
   */
  applyEvent(agent: RelayAgent, kind: string, idempotencyKey: string, occurredAt: number, payload: unknown, where = 'payload'): ItemOutcome {
    {
      // The events table is the idempotency record: one row per (agent, key), forever.
      const seen = this.get('SELECT id FROM events WHERE agent_id = ? AND idempotency_key = ?', [agent.id, idempotencyKey]);
      if (seen) return { status: 200, duplicate: true, id: seen['id'] as string };
      this.#lastDelivery = undefined;
      const id = this.#applyKind(agent, kind, occurredAt, payload, where);
      const delivery = this.#lastDelivery as ItemOutcome['delivery'];
      const now = this.now();
      this.run(
        'INSERT INTO events (id, agent_id, kind, idempotency_key, occurred_at, created_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [id, agent.id, kind, idempotencyKey, occurredAt, now, JSON.stringify(payload ?? null)],
      );
      const outcome: ItemOutcome = { status: 201, id, duplicate: false };
      if (delivery) outcome.delivery = delivery;
      return outcome;
    }
  }

  /** Check the payload with its kind's protocol schema, then store it. */
  #applyKind(agent: RelayAgent, kind: string, occurredAt: number, payload: unknown, where: string): string {
    switch (kind) {
      case 'message':
        return this.#storeAgentMessage(agent, 'message', occurredAt, checked(MessageEventPayloadSchema, payload, where));
      case 'session':
        return this.#storeAgentMessage(agent, 'session', occurredAt, checked(SessionEventPayloadSchema, payload, where));
      case 'task_status': {
        const p = checked(TaskStatusPayloadSchema, payload, where);
        this.run(
          `INSERT INTO tasks (task_id, agent_id, status, message_id, note, updated_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(task_id) DO UPDATE SET agent_id = excluded.agent_id, status = excluded.status,
           message_id = excluded.message_id, note = excluded.note, updated_at = excluded.updated_at`,
          [p.taskId, agent.id, p.status, p.messageId ?? null, p.note ?? null, occurredAt],
        );
        return p.taskId;
      }
      case 'insight': {
        if (!this.profileFor(agent.name).features.insights) {
          throw new HttpFailure(409, 'insights_disabled', 'insights are disabled for this agent');
        }
        checked(InsightPayloadSchema, payload, where);
        return newId('ins');
      }
      case 'hook_fatal':
        checked(HookFatalPayloadSchema, payload, where);
        return newId('hkf');
      default:
        throw new HttpFailure(422, 'unknown_kind', `event kind "${kind.slice(0, 60)}" is not one of ${RelayEventKindSchema.options.join(', ')}`);
    }
  }

  #storeAgentMessage(agent: RelayAgent, kind: RelayMessageKind, occurredAt: number, p: SessionEventPayload): string {
    const { body, replyTo, taskId, entry } = p;
    const { message, recipientId } = this.#insert({
      kind,
      from: agent.name,
      fromAgentId: agent.id,
      to: p.to ?? '',
      body,
      replyTo,
      taskId,
      expectsReply: p.expectsReply ?? false,
      entry,
      occurredAt,
      attachments: [],
    });
    if (recipientId) this.#lastDelivery = { agentId: recipientId, message };
    // Only a conversation reply clears an obligation; a session-mirror entry never does (SPEC §4, §7).
    if (kind === 'message' && replyTo) {
      this.run('UPDATE obligations SET cleared_at = ?, cleared_by = ? WHERE message_id = ? AND agent_id = ? AND cleared_at IS NULL', [
        this.now(),
        message.id,
        replyTo,
        agent.id,
      ]);
    }
    return message.id;
  }

  #lastDelivery: ItemOutcome['delivery'];

  /** Store a message; delivers to an agent recipient's inbox and creates its obligation. */
  insertMessage(input: NewMessage): RelayMessage {
    return this.#insert(input).message;
  }

  #insert(input: NewMessage): { message: RelayMessage; recipientId: string | undefined } {
    const recipient = input.kind === 'message' && input.to ? this.findAgent(input.to) : undefined;
    const id = newId('msg');
    const now = this.now();
    const to = recipient ? recipient.name : input.to;
    const seq = this.#lastMessageSeq + 1;
    this.run(
      `INSERT INTO messages (seq, id, kind, from_name, from_agent_id, to_name, to_agent_id, body, reply_to, task_id, expects_reply,
       entry, occurred_at, created_at, attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        seq,
        id,
        input.kind,
        input.from,
        input.fromAgentId ?? null,
        to,
        recipient ? recipient.id : null,
        input.body,
        input.replyTo ?? null,
        input.taskId ?? null,
        input.expectsReply ? 1 : 0,
        input.entry ?? null,
        input.occurredAt,
        now,
        JSON.stringify(input.attachments),
      ],
    );
    this.#lastMessageSeq = seq;
    if (recipient && input.expectsReply) {
      this.run('INSERT INTO obligations (message_id, agent_id, from_name, excerpt, task_id, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
        id,
        recipient.id,
        input.from,
        input.body.slice(0, 200),
        input.taskId ?? null,
        now,
      ]);
    }
    // Built here rather than read back: the batch route stores thousands of these.
    const message: RelayMessage = {
      id,
      seq,
      kind: input.kind,
      from: input.from,
      to,
      body: input.body,
      expectsReply: input.expectsReply,
      occurredAt: input.occurredAt,
      createdAt: now,
      attachments: input.attachments,
    };
    if (input.replyTo) message.replyTo = input.replyTo;
    if (input.taskId) message.taskId = input.taskId;
    if (input.entry) message.entry = input.entry;
    return { message, recipientId: recipient?.id };
  }

  storeAttachment(a: NewAttachment): RelayAttachment {
    const id = newId('att');
    const data = typeof a.content === 'string' ? new TextEncoder().encode(a.content) : a.content;
    const mediaType = a.mediaType ?? 'application/octet-stream';
    this.run('INSERT INTO attachments (id, name, media_type, size, data) VALUES (?, ?, ?, ?, ?)', [id, a.name, mediaType, data.length, data]);
    return { id, name: a.name, size: data.length, mediaType, url: `/v1/attachments/${id}` };
  }

  attachment(id: string): { mediaType: string; data: Uint8Array } | undefined {
    const row = this.get('SELECT media_type, data FROM attachments WHERE id = ?', [id]);
    return row ? { mediaType: row['media_type'] as string, data: row['data'] as Uint8Array } : undefined;
  }

  message(id: string): RelayMessage | undefined {
    const row = this.get('SELECT * FROM messages WHERE id = ?', [id]);
    return row ? toMessage(row) : undefined;
  }

  listMessages(filter: MessageFilter = {}): RelayMessage[] {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.to !== undefined) {
      where.push('(to_name = ? OR to_agent_id = ?)');
      params.push(filter.to, filter.to);
    }
    if (filter.from !== undefined) {
      where.push('(from_name = ? OR from_agent_id = ?)');
      params.push(filter.from, filter.from);
    }
    if (filter.kind !== undefined) {
      where.push('kind = ?');
      params.push(filter.kind);
    }
    const sql = `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`;
    return this.all(sql, params).map(toMessage);
  }

  unread(agentId: string, limit: number): RelayMessage[] {
    return this.all('SELECT * FROM messages WHERE to_agent_id = ? AND read_at IS NULL ORDER BY seq LIMIT ?', [agentId, limit]).map(toMessage);
  }

  markRead(agentId: string, ids: readonly string[]): number {
    let changed = 0;
    const now = this.now();
    for (const id of ids) {
      this.run('UPDATE messages SET read_at = ? WHERE id = ? AND to_agent_id = ? AND read_at IS NULL', [now, id, agentId]);
      changed += this.db.getRowsModified();
    }
    return changed;
  }

  obligations(agentId: string): Obligation[] {
    return this.all('SELECT * FROM obligations WHERE agent_id = ? AND cleared_at IS NULL ORDER BY created_at, rowid', [agentId]).map(
      (r) => {
        const o: Obligation = {
          messageId: r['message_id'] as string,
          from: r['from_name'] as string,
          excerpt: r['excerpt'] as string,
          createdAt: r['created_at'] as number,
        };
        if (r['task_id']) o.taskId = r['task_id'] as string;
        return o;
      },
    );
  }

  task(taskId: string): RelayTask | undefined {
    const r = this.get('SELECT * FROM tasks WHERE task_id = ?', [taskId]);
    return r ? toTask(r) : undefined;
  }

  tasks(): RelayTask[] {
    return this.all('SELECT * FROM tasks ORDER BY updated_at, task_id').map(toTask);
  }

  listEvents(filter: { agentId?: string; kind?: string } = {}): DevServerEvent[] {
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.agentId) {
      where.push('agent_id = ?');
      params.push(filter.agentId);
    }
    if (filter.kind) {
      where.push('kind = ?');
      params.push(filter.kind);
    }
    return this.all(`SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`, params).map((r) => ({
      seq: r['seq'] as number,
      id: r['id'] as string,
      agentId: r['agent_id'] as string,
      kind: r['kind'] as string,
      idempotencyKey: r['idempotency_key'] as string,
      occurredAt: r['occurred_at'] as number,
      createdAt: r['created_at'] as number,
      payload: JSON.parse(r['payload'] as string) as unknown,
    }));
  }

  // ---- permissions -------------------------------------------------------------------------
  createPermission(agent: RelayAgent, body: RelayPermissionRequestInput): { permission: RelayPermissionRequest; created: boolean } {
    const { requestId, tool, summary } = body;
    const input = body.input === undefined ? null : JSON.stringify(body.input).slice(0, 64 * 1024);
    const existing = this.get('SELECT id FROM permissions WHERE agent_id = ? AND request_id = ?', [agent.id, requestId]);
    if (existing) return { permission: this.permission(existing['id'] as string)!, created: false };
    const id = newId('perm');
    this.run('INSERT INTO permissions (id, agent_id, request_id, tool, summary, input, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [
      id,
      agent.id,
      requestId,
      tool,
      summary,
      input,
      this.now(),
    ]);
    return { permission: this.permission(id)!, created: true };
  }

  permission(id: string): RelayPermissionRequest | undefined {
    const r = this.get('SELECT * FROM permissions WHERE id = ?', [id]);
    return r ? toPermission(r) : undefined;
  }

  permissions(agentId?: string): RelayPermissionRequest[] {
    const rows = agentId
      ? this.all('SELECT * FROM permissions WHERE agent_id = ? ORDER BY created_at, rowid', [agentId])
      : this.all('SELECT * FROM permissions ORDER BY created_at, rowid');
    return rows.map(toPermission);
  }

  decide(id: string, behavior: 'allow' | 'deny', message: string | undefined, decidedBy: string): RelayPermissionRequest {
    const current = this.permission(id);
    if (!current) throw new HttpFailure(404, 'not_found', `no permission request ${id}`);
    if (current.status === 'decided') throw new HttpFailure(409, 'already_decided', `permission request ${id} was already decided`);
    this.run('UPDATE permissions SET behavior = ?, message = ?, decided_by = ?, decided_at = ? WHERE id = ?', [
      behavior,
      message ?? null,
      decidedBy,
      this.now(),
      id,
    ]);
    return this.permission(id)!;
  }
}
