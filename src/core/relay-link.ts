import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Obligation, RelayHttp } from '../ports/relay-http.js';
import type { RelayBus } from '../ports/relay-bus.js';
import type { Outbox } from './outbox.js';
import type { AgentStatus } from './status.js';
import type { RunnerOutboxEvent, SentEvent, TimelineEvent } from './runner-types.js';
import { createObligationCache, type ObligationCache, type ObligationSnapshot } from './obligations.js';
import { listenToBus, type BusTarget } from './bus-commands.js';
import { ClosedError, RunnerError } from '../errors/index.js';
import type { RelayAuth } from './registration.js';
import { describeError } from '../shared/describe-error.js';
import type { OutboxPoisonedEvent, OutboxRejectedEvent, OutboxRetryEvent, OutboxShedEvent } from './outbox-types.js';

/** What {@link RelayLink} needs. */
export interface RelayLinkDeps {
  clock: Clock;
  logger: Logger;
  /** The relay call this subsystem makes itself. */
  http: Pick<RelayHttp, 'obligations'>;
  /** Authenticated relay calls. */
  auth: Pick<RelayAuth, 'withAuth'>;
  makeBus: (agentId: string, token: string) => RelayBus;
  makeOutbox: (agentId: string) => Outbox;
  /** Background refresh of the obligation snapshot. */
  obligationRefreshMs: number;
  /** The current status, re-sent on a new bus. */
  currentStatus: () => AgentStatus;
  /** A timeline entry was published. */
  onTimeline: (entry: TimelineEvent) => void;
  /** The agent's own message was queued (a monitor marks the message it answers). */
  onSent?: (event: SentEvent) => void;
  /** Outbox trouble (retry, poisoned, rejected, shed), for the host. */
  onOutbox?: (event: RunnerOutboxEvent) => void;
  /** An event could not be queued (also logged). */
  onError: (error: Error) => void;
}

/**
 * The registered agent's channels to the relay: the bus (status, timeline, inbound frames), the
 * durable outbox for everything the relay must receive, and the obligation snapshot. Opened once
 * the agent id is known; closed last, after one quick drain of the outbox.
 */
export class RelayLink {
  readonly #d: RelayLinkDeps;
  #bus: RelayBus | undefined;
  #outbox: Outbox | undefined;
  #obligations: ObligationCache<Obligation> | undefined;
  #unsubscribe: () => void = () => {};
  #target: Omit<BusTarget, 'timeline'> | undefined;
  /** The agent's own messages still in the outbox, by seq, with the message each one answers. */
  readonly #ownMessages = new Map<number, { to: string; replyTo?: string }>();
  #offOutbox: () => void = () => {};

  constructor(deps: RelayLinkDeps) {
    this.#d = deps;
  }

  /** The outbox, once open. */
  get outbox(): Outbox | undefined {
    return this.#outbox;
  }

  /** Whether the bus is up. */
  get connected(): boolean {
    return this.#bus?.connected ?? false;
  }

  /** Open the outbox, the obligation snapshot and the bus (which routes its frames to `target`). */
  open(agentId: string, token: string, target: Omit<BusTarget, 'timeline'>): void {
    this.#target = target;
    const outbox = this.#d.makeOutbox(agentId);
    this.#outbox = outbox;
    const delivered = (event: { seq: number }) => void this.#ownMessages.delete(event.seq);
    const rejected = (event: { seq: number; status: number; reason: string }) => this.#messageRejected(event.seq, event.status, event.reason);
    // Shedding is visible to the host and the monitor as a timeline entry, not only in the log.
    const shed = (event: { rows: number; bytes: number; kinds: Record<string, number> }) =>
      this.timeline('outbox.shed', { rows: event.rows, bytes: event.bytes, kinds: event.kinds });
    const forward = this.#d.onOutbox;
    const retried = (event: OutboxRetryEvent) => forward?.({ type: 'retry', ...event });
    const poisoned = (event: OutboxPoisonedEvent) => forward?.({ type: 'poisoned', ...event });
    const refused = (event: OutboxRejectedEvent) => forward?.({ type: 'rejected', ...event });
    const dropped = (event: OutboxShedEvent) => forward?.({ type: 'shed', ...event });
    outbox.on('delivered', delivered).on('rejected', rejected).on('shed', shed);
    outbox.on('retry', retried).on('poisoned', poisoned).on('rejected', refused).on('shed', dropped);
    this.#offOutbox = () => {
      outbox.off('delivered', delivered).off('rejected', rejected).off('shed', shed);
      outbox.off('retry', retried).off('poisoned', poisoned).off('rejected', refused).off('shed', dropped);
    };
    outbox.start();
    this.#attach(agentId, token);
  }

  /**
   * The relay registered the agent anew under another id (it had lost its state): a new bus and
   * obligation snapshot for that id. The outbox stays: what it holds is sent with the new token.
   */
  async reattach(agentId: string, token: string): Promise<void> {
    this.#obligations?.stop();
    this.#unsubscribe();
    const old = this.#bus;
    this.#attach(agentId, token);
    this.timeline('relay.reregistered', { agentId });
    this.status(this.#d.currentStatus());
    await old?.close().catch(() => {});
    await this.#target?.inbox.catchUp();
  }

  /** A hook crashed: a FATAL line, and a `hook_fatal` event for the relay. */
  async hookFatal(report: { hook: string; message: string; exitCode?: number; line?: number; command?: string }): Promise<void> {
    this.#d.logger.fatal('hook', `${report.hook} failed${report.line ? ` at line ${report.line}` : ''}${report.exitCode !== undefined ? ` (exit ${report.exitCode})` : ''}: ${report.message}`);
    await this.enqueue('hook_fatal', { ...report });
  }

  #attach(agentId: string, token: string): void {
    const d = this.#d;
    this.#obligations = createObligationCache<Obligation>({
      fetch: () => d.auth.withAuth(() => d.http.obligations(agentId)),
      key: (o) => o.messageId,
      clock: d.clock,
      logger: d.logger,
      refreshIntervalMs: d.obligationRefreshMs,
    });
    this.#obligations.start();
    const bus = d.makeBus(agentId, token);
    this.#bus = bus;
    this.#unsubscribe = listenToBus(bus, { ...(this.#target as Omit<BusTarget, 'timeline'>), timeline: (event, data) => this.timeline(event, data) }, d.logger);
    bus.connect();
  }

  /** The obligation snapshot (empty and stale before the link is open). */
  obligations(): ObligationSnapshot<Obligation> {
    return this.#obligations?.get() ?? { items: [], fetchedAt: undefined, stale: true };
  }

  /** Obligations may have changed: refresh soon. */
  obligationsChanged(): void {
    this.#obligations?.markDirty();
  }

  /** A message expecting a reply arrived: owed at once locally (the Stop decision sees it), and refreshed soon. */
  obligationArrived(obligation: Obligation): void {
    this.#obligations?.expectLocally(obligation);
    this.#obligations?.markDirty();
  }

  /** The agent's own message, through the outbox; a reply clears its obligation locally at once. */
  async sendMessage(input: { to: string; body: string; replyTo?: string; expectsReply?: boolean }): Promise<{ seq: number; idempotencyKey: string }> {
    const outbox = this.#outbox;
    if (!outbox) throw new ClosedError('runner');
    const payload: Record<string, unknown> = { kind: 'message', to: input.to, body: clipBody(input.body) };
    if (input.replyTo) payload.replyTo = input.replyTo;
    if (input.expectsReply) payload.expectsReply = true;
    const row = await outbox.enqueue({ kind: 'message', payload });
    this.#ownMessages.set(row.seq, { to: input.to, ...(input.replyTo ? { replyTo: input.replyTo } : {}) });
    if (input.replyTo) this.#obligations?.resolveLocally(input.replyTo);
    this.#obligations?.markDirty();
    this.#d.onSent?.({ seq: row.seq, to: input.to, ...(input.replyTo ? { replyTo: input.replyTo } : {}), at: this.#d.clock.now() });
    return { seq: row.seq, idempotencyKey: row.idempotencyKey };
  }

  /**
   * The relay permanently refused one of the agent's own messages (a 4xx after it was queued):
   * logged at ERROR and reported, and a reply's obligation shows again, so the Stop hook reminds
   * the agent instead of letting it believe it answered.
   */
  #messageRejected(seq: number, status: number, reason: string): void {
    const message = this.#ownMessages.get(seq);
    if (!message) return;
    this.#ownMessages.delete(seq);
    if (message.replyTo) {
      this.#obligations?.unresolveLocally(message.replyTo);
      this.#obligations?.markDirty();
    }
    const what = message.replyTo ? `reply to ${message.replyTo} (for ${message.to})` : `message for ${message.to}`;
    const text = `the relay refused the agent's ${what} (${status}: ${reason}); it was not delivered${message.replyTo ? ' and the reply is owed again' : ''}`;
    this.#d.logger.error('outbox', text);
    this.#d.onError(new RunnerError('MESSAGE_REJECTED', text, { data: { seq, status, reason, to: message.to, ...(message.replyTo ? { replyTo: message.replyTo } : {}) } }));
  }

  /** Queue an event for the relay; a failure is logged and reported, never thrown. */
  async enqueue(kind: string, payload: Record<string, unknown>): Promise<void> {
    if (!this.#outbox) return;
    try {
      if (typeof payload.body === 'string') payload.body = clipBody(payload.body);
      await this.#outbox.enqueue({ kind, payload: stripUndefined(payload) });
    } catch (error) {
      this.#d.logger.error('outbox', `could not queue ${kind}: ${describeError(error)}`);
      this.#d.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Publish a timeline entry on the bus (if up) and to the host. */
  timeline(event: string, data: Record<string, unknown>): void {
    const entry: TimelineEvent = { event, at: this.#d.clock.now(), data: stripUndefined(data) };
    this.#bus?.send({ type: 'timeline', event, at: entry.at, data: entry.data ?? {} });
    this.#d.onTimeline(entry);
  }

  /** Publish the status on the bus (last-wins; never queued). */
  status(status: AgentStatus): void {
    this.#bus?.send({ type: 'status', status: { ...status, subagents: status.openSubagents } });
  }

  /** A fresh token is in force: the bus reconnects with it. */
  tokenRenewed(token: string): void {
    this.#bus?.setToken(token);
    this.#bus?.reconnect('token renewed');
  }

  /** Stop refreshing, give the outbox one quick drain (the rest stays stored), close the bus. */
  /**
   * Give what the outbox holds one last chance to go out, then close. `cutoff` (the host's stop
   * deadline or abort) ends that wait early: rows not yet accepted stay stored for the next start,
   * and one still in flight is retried then (the relay dedupes it by its idempotency key).
   */
  async close(cutoff?: Promise<void>): Promise<void> {
    this.#obligations?.stop();
    const bounded = (work: Promise<unknown> | undefined) => Promise.race([work?.catch(() => {}), ...(cutoff ? [cutoff] : [])]);
    await bounded(this.#outbox?.drain());
    await bounded(this.#outbox?.close());
    this.#unsubscribe();
    this.#offOutbox();
    await this.#bus?.close();
    this.#bus = undefined;
    this.#outbox = undefined;
    this.#obligations = undefined;
  }
}

/** The relay's limit on a message body, in characters (`FIELD_LIMITS.messageBody` in `src/protocol/`). */
export const MAX_BODY_CHARS = 256 * 1024;

/**
 * A body the relay accepts: an over-long one is cut, visibly, rather than refused. A refused event
 * is dropped by the outbox as a permanent rejection, so an over-long reply would reach nobody.
 */
export function clipBody(body: string): string {
  if (body.length <= MAX_BODY_CHARS) return body;
  const note = `\n[… cut by agent-relay-runner: ${body.length - MAX_BODY_CHARS + 200} more characters]`;
  return body.slice(0, MAX_BODY_CHARS - 200) + note;
}

function stripUndefined<T extends Record<string, unknown>>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}
