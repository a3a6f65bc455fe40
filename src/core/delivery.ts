import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProviderTurn } from '../ports/provider.js';
import { messageHeader, stripClaimGuidance } from './turns.js';
import { describeError } from '../shared/describe-error.js';

/**
 * A relay message addressed to this agent, as the runner delivers it.
 * @public
 */
export interface InboundMessage {
  /** Relay message id. */
  id: string;
  /** Sender name or agent id. */
  from: string;
  /** Message text. */
  body: string;
  /** Whether the sender expects a reply (a reply obligation exists). */
  expectsReply: boolean;
  /** Task id, when the message assigns a task. */
  taskId?: string;
  /** Local paths of downloaded attachments. */
  attachments?: string[];
  /** A previous attempt at this message was interrupted (provider or runner crash): say so in the turn. */
  retry?: boolean;
}

/**
 * The recorded delivery states (SPEC §7): `queued`, `injected` (written to the provider),
 * `consumed` (the provider confirmed it: the agent has been shown it) and `finished` (its turn
 * ended or its reply was sent; only now is it marked read on the relay).
 * @public
 */
export type DeliveryState = 'queued' | 'injected' | 'consumed' | 'finished';

/**
 * Emitted whenever a delivery changes state.
 * @public
 */
export interface DeliveryEvent {
  /** Runner-chosen delivery id (also written into the turn). */
  deliveryId: string;
  /** The relay message id. */
  messageId: string;
  /** New state. */
  state: DeliveryState;
  /** Epoch ms of the change. */
  at: number;
  /** Who sent the message (name or agent id), so a monitor can show it without the message. */
  from?: string;
  /** The start of the message text (at most 120 characters). */
  excerpt?: string;
}

/** Length of {@link DeliveryEvent.excerpt}: enough to recognise a message on a monitor. */
const DELIVERY_EXCERPT_CHARS = 120;

interface Delivery {
  deliveryId: string;
  message: InboundMessage;
  state: DeliveryState;
  /** Attempts that were consumed and then lost to a crash. */
  interrupted: number;
}

/** The line a redelivered turn carries, so the agent checks its earlier work before redoing it. */
export const RETRY_NOTICE =
  '(Retry: your previous attempt at this message was interrupted before it finished. Check what you already did before repeating it.)';

/**
 * Orders relay messages into provider turns: dedupes by message id, writes one turn at a time,
 * records queued → injected → consumed → finished, puts a failed or lost injection back at the
 * front, and a consumed but unfinished one too (as a retry) when the provider dies mid-turn.
 */
export class DeliveryQueue {
  /** The last state of every message seen (bounded), for dedupe and for "has the agent been shown it". */
  readonly #seen = new Map<string, Delivery>();
  readonly #seenOrder: string[] = [];
  readonly #queue: Delivery[] = [];
  readonly #injected = new Map<string, Delivery>();
  /** Consumed, not yet finished: the turn that is being worked on. */
  readonly #inFlight = new Map<string, Delivery>();
  #nextId = 1;
  #pumping = false;

  constructor(
    private readonly deps: {
      clock: Clock;
      logger: Logger;
      /** Write the turn; resolves once written. Undefined while no provider session is up. */
      inject: (() => ((turn: ProviderTurn) => Promise<void>) | undefined);
      /** Context block to prepend, if one is due; called once per injected turn. */
      takeContextBlock: () => string | undefined;
      onState: (event: DeliveryEvent) => void;
      /** How many message ids to remember for dedupe. */
      rememberIds?: number;
    },
  ) {}

  /** Accept a message; false when it was a duplicate. */
  accept(message: InboundMessage): boolean {
    if (this.#seen.has(message.id)) {
      this.deps.logger.debug('delivery', `dropped duplicate message ${message.id}`);
      return false;
    }
    const delivery: Delivery = { deliveryId: `d${this.#nextId++}-${message.id}`, message, state: 'queued', interrupted: 0 };
    this.#remember(delivery);
    this.#queue.push(delivery);
    this.#emit(delivery);
    return true;
  }

  /** Deliveries not yet consumed. */
  pending(): number {
    return this.#queue.length + this.#injected.size;
  }

  /** The recorded state of a message, if it is still remembered. */
  stateOf(messageId: string): DeliveryState | undefined {
    return this.#seen.get(messageId)?.state;
  }

  /** A remembered message (queued, in flight or finished), for the agent's reply and attachment tools. */
  message(messageId: string): InboundMessage | undefined {
    return this.#seen.get(messageId)?.message;
  }

  /** Messages consumed and not yet finished (their turn is running). */
  inFlight(): InboundMessage[] {
    return [...this.#inFlight.values()].map((d) => d.message);
  }

  /** Find the injected delivery a provider confirmation refers to (by delivery id or prompt text). */
  consumed(ref: { deliveryId?: string; prompt?: string }): InboundMessage | undefined {
    let found: Delivery | undefined;
    if (ref.deliveryId) found = this.#injected.get(ref.deliveryId);
    if (!found && ref.prompt) {
      for (const d of this.#injected.values()) {
        if (ref.prompt.includes(`[relay message ${d.message.id} `)) {
          found = d;
          break;
        }
      }
    }
    if (!found) return undefined;
    this.#injected.delete(found.deliveryId);
    this.#inFlight.set(found.message.id, found);
    found.state = 'consumed';
    this.#emit(found);
    return found.message;
  }

  /**
   * Finish consumed messages: the one given (its reply was sent), or every one in flight (their
   * turn ended). A message answered before its retry was delivered is finished too, never
   * delivered again. Returns the messages that changed.
   */
  finish(messageId?: string): InboundMessage[] {
    const done: Delivery[] = [];
    if (messageId === undefined) {
      done.push(...this.#inFlight.values());
      this.#inFlight.clear();
    } else {
      const d = this.#seen.get(messageId);
      if (!d || d.state === 'finished' || (d.state !== 'consumed' && d.interrupted === 0)) return [];
      this.#inFlight.delete(messageId);
      this.#injected.delete(d.deliveryId);
      const at = this.#queue.indexOf(d);
      if (at >= 0) this.#queue.splice(at, 1);
      done.push(d);
    }
    for (const d of done) {
      d.state = 'finished';
      this.#emit(d);
    }
    return done.map((d) => d.message);
  }

  /**
   * The provider went away mid-turn: consumed-but-unfinished messages go back to the front as
   * retries (at most `maxAttempts` interrupted attempts each; the rest are returned, given up on),
   * followed by the injected-but-unconsumed ones, in order.
   */
  requeueInterrupted(maxAttempts = Number.POSITIVE_INFINITY): InboundMessage[] {
    const givenUp: InboundMessage[] = [];
    const back: Delivery[] = [];
    for (const d of this.#inFlight.values()) {
      d.interrupted += 1;
      if (d.interrupted >= maxAttempts) {
        d.state = 'finished';
        this.#emit(d);
        givenUp.push(d.message);
        continue;
      }
      d.message = { ...d.message, retry: true };
      this.deps.logger.warn('delivery', `message ${d.message.id} was interrupted mid-turn (attempt ${d.interrupted}); it will be delivered again as a retry`);
      back.push(d);
    }
    this.#inFlight.clear();
    back.push(...this.#injected.values());
    this.#injected.clear();
    for (const d of back.reverse()) {
      d.state = 'queued';
      this.#queue.unshift(d);
      this.#emit(d);
    }
    return givenUp;
  }

  /** Give up on everything not yet finished (the provider is gone for good); returns those messages. */
  abandonAll(): InboundMessage[] {
    const all = [...this.#inFlight.values(), ...this.#injected.values(), ...this.#queue];
    this.#inFlight.clear();
    this.#injected.clear();
    this.#queue.length = 0;
    for (const d of all) {
      d.state = 'finished';
      this.#emit(d);
    }
    return all.map((d) => d.message);
  }

  /** Write queued turns to the provider, one at a time, in order. */
  async pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        const inject = this.deps.inject();
        const next = this.#queue[0];
        if (!inject || !next) return;
        const turn = this.#turnFor(next.message, next.deliveryId);
        try {
          await inject(turn);
        } catch (error) {
          // Stays at the head; the next pump (provider restart) tries again.
          this.deps.logger.warn(
            'delivery',
            `injecting message ${next.message.id} failed, back to the queue: ${describeError(error)}`,
          );
          return;
        }
        this.#queue.shift();
        next.state = 'injected';
        this.#injected.set(next.deliveryId, next);
        this.#emit(next);
      }
    } finally {
      this.#pumping = false;
    }
  }

  #turnFor(message: InboundMessage, deliveryId: string): ProviderTurn {
    const parts: string[] = [];
    const context = this.deps.takeContextBlock();
    if (context) parts.push(context);
    parts.push(messageHeader(message));
    if (message.retry) parts.push(RETRY_NOTICE);
    parts.push(message.taskId ? stripClaimGuidance(message.body) : message.body);
    if (message.attachments && message.attachments.length > 0) {
      parts.push(`Attachments (local files):\n${message.attachments.map((p) => `- ${p}`).join('\n')}`);
    }
    const sender: ProviderTurn['sender'] = { from: message.from, messageId: message.id, expectsReply: message.expectsReply };
    if (message.taskId) sender.taskId = message.taskId;
    if (message.retry) sender.retry = true;
    return { deliveryId, text: parts.join('\n\n'), sender };
  }

  #remember(d: Delivery): void {
    this.#seen.set(d.message.id, d);
    this.#seenOrder.push(d.message.id);
    const limit = this.deps.rememberIds ?? 10_000;
    while (this.#seenOrder.length > limit) this.#seen.delete(this.#seenOrder.shift() as string);
  }

  #emit(d: Delivery): void {
    const { id, from, body } = d.message;
    const excerpt = body.length > DELIVERY_EXCERPT_CHARS ? `${body.slice(0, DELIVERY_EXCERPT_CHARS - 1)}…` : body;
    this.deps.onState({ deliveryId: d.deliveryId, messageId: id, state: d.state, at: this.deps.clock.now(), from, excerpt });
  }
}
