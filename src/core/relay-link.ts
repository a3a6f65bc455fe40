import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { Obligation, RelayHttp } from '../ports/relay-http.js';
import type { RelayBus } from '../ports/relay-bus.js';
import type { Outbox } from './outbox.js';
import type { AgentStatus } from './status.js';
import type { SentEvent, TimelineEvent } from './runner-types.js';
import { createObligationCache, type ObligationCache, type ObligationSnapshot } from './obligations.js';
import { listenToBus, type BusTarget } from './bus-commands.js';
import { ClosedError, RunnerError } from '../errors/index.js';
import type { RelayAuth } from './registration.js';
import { describeError } from '../shared/describe-error.js';

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
  /** A timeline entry was published. */
  onTimeline: (entry: TimelineEvent) => void;
  /** The agent's own message was queued (a monitor marks the message it answers). */
  onSent?: (event: SentEvent) => void;
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
  /** The agent's own messages still in the outbox, by seq, with the message each one answers. */
  readonly #ownMessages = new Map<number, { to: string; replyTo?: string }>();

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
    const d = this.#d;
    const outbox = d.makeOutbox(agentId);
    this.#outbox = outbox;
    const delivered = (event: { seq: number }) => void this.#ownMessages.delete(event.seq);
    const rejected = (event: { seq: number; status: number; reason: string }) => this.#messageRejected(event.seq, event.status, event.reason);
    // Shedding is visible to the host and the monitor as a timeline entry, not only in the log.
    const shed = (event: { rows: number; bytes: number; kinds: Record<string, number> }) =>
      this.timeline('outbox.shed', { rows: event.rows, bytes: event.bytes, kinds: event.kinds });
    outbox.on('delivered', delivered).on('rejected', rejected).on('shed', shed);
    outbox.start();
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
    const offBus = listenToBus(bus, { ...target, timeline: (event, data) => this.timeline(event, data) }, d.logger);
    this.#unsubscribe = () => {
      offBus();
      outbox.off('delivered', delivered).off('rejected', rejected).off('shed', shed);
    };
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

  /** The agent's own message, through the outbox; a reply clears its obligation locally at once. */
  async sendMessage(input: { to: string; body: string; replyTo?: string; expectsReply?: boolean }): Promise<{ seq: number; idempotencyKey: string }> {
    const outbox = this.#outbox;
    if (!outbox) throw new ClosedError('runner');
    const payload: Record<string, unknown> = { kind: 'message', to: input.to, body: input.body };
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
  async close(): Promise<void> {
    this.#obligations?.stop();
    await this.#outbox?.drain().catch(() => {});
    await this.#outbox?.close();
    this.#unsubscribe();
    await this.#bus?.close();
  }
}

function stripUndefined<T extends Record<string, unknown>>(value: T): T {
  for (const key of Object.keys(value)) if (value[key] === undefined) delete value[key];
  return value;
}
