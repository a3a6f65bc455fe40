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
}

/**
 * The three recorded delivery states (SPEC §7).
 * @public
 */
export type DeliveryState = 'queued' | 'injected' | 'consumed';

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
}

/**
 * Orders relay messages into provider turns: dedupes by message id, writes one turn at a time,
 * records queued → injected → consumed, and puts a failed or lost injection back at the front.
 */
export class DeliveryQueue {
  readonly #seen = new Set<string>();
  readonly #seenOrder: string[] = [];
  readonly #queue: Delivery[] = [];
  readonly #injected = new Map<string, Delivery>();
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
    this.#remember(message.id);
    const delivery: Delivery = { deliveryId: `d${this.#nextId++}-${message.id}`, message, state: 'queued' };
    this.#queue.push(delivery);
    this.#emit(delivery);
    return true;
  }

  /** Deliveries not yet consumed. */
  pending(): number {
    return this.#queue.length + this.#injected.size;
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
    found.state = 'consumed';
    this.#emit(found);
    return found.message;
  }

  /** The provider went away: injected-but-unconsumed turns go back to the front, in order. */
  requeueInjected(): void {
    const back = [...this.#injected.values()];
    this.#injected.clear();
    for (const d of back.reverse()) {
      d.state = 'queued';
      this.#queue.unshift(d);
      this.#emit(d);
    }
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
    parts.push(message.taskId ? stripClaimGuidance(message.body) : message.body);
    if (message.attachments && message.attachments.length > 0) {
      parts.push(`Attachments (local files):\n${message.attachments.map((p) => `- ${p}`).join('\n')}`);
    }
    const sender: ProviderTurn['sender'] = { from: message.from, messageId: message.id, expectsReply: message.expectsReply };
    if (message.taskId) sender.taskId = message.taskId;
    return { deliveryId, text: parts.join('\n\n'), sender };
  }

  #remember(id: string): void {
    this.#seen.add(id);
    this.#seenOrder.push(id);
    const limit = this.deps.rememberIds ?? 10_000;
    while (this.#seenOrder.length > limit) this.#seen.delete(this.#seenOrder.shift() as string);
  }

  #emit(d: Delivery): void {
    const { id, from, body } = d.message;
    const excerpt = body.length > DELIVERY_EXCERPT_CHARS ? `${body.slice(0, DELIVERY_EXCERPT_CHARS - 1)}…` : body;
    this.deps.onState({ deliveryId: d.deliveryId, messageId: id, state: d.state, at: this.deps.clock.now(), from, excerpt });
  }
}
