import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProviderSession } from '../ports/provider.js';
import type { Obligation, RelayHttp, RelayMessage } from '../ports/relay-http.js';
import type { DeliveryJournal } from '../ports/delivery-journal.js';
import { DeliveryQueue, type DeliveryEvent, type InboundMessage } from './delivery.js';
import { DeliveryNotes } from './delivery-notes.js';
import { initialPromptId, isInitialPromptId } from './turns.js';
import type { RelayAuth } from './registration.js';
import { describeError } from '../shared/describe-error.js';

/**
 * Stores one downloaded attachment locally and returns its path (the file write is an adapter's).
 * @param messageId - the relay message the attachment came with
 * @param name - the file name as the sender gave it (unsanitised)
 * @param bytes - the downloaded content
 */
export type SaveAttachment = (messageId: string, name: string, bytes: Uint8Array) => Promise<string>;

/** What {@link Inbox} needs. */
export interface InboxDeps {
  clock: Clock;
  logger: Logger;
  /** The relay calls this subsystem makes itself. */
  http: Pick<RelayHttp, 'pollUnread' | 'markRead' | 'downloadAttachment'>;
  /** The agent id and authenticated relay calls. */
  auth: RelayAuth;
  /** Largest attachment downloaded; bigger ones are skipped with a warning. */
  maxAttachmentBytes: number;
  /** Where downloaded attachments go. */
  saveAttachment: SaveAttachment;
  /** The provider supervision: the session turns are written to, and its id. */
  provider: { readonly session: Pick<ProviderSession, 'deliver'> | undefined; readonly sessionId: string | undefined };
  /** The relay context block, or undefined when the feature is off. */
  contextBlock: () => string | undefined;
  /** The fallback send command each message header names. */
  sendCommand?: string;
  /** A delivery changed state. */
  onState: (event: DeliveryEvent) => void;
  /** A message that expects a reply was accepted: the obligation it creates, known before the relay lists it. */
  onObligation: (obligation: Obligation) => void;
  /** The durable note of in-flight messages, for a restart of the runner process (none: memory only). */
  journal?: DeliveryJournal;
  /** Interrupted attempts after which a message is given up on. @defaultValue 3 */
  maxAttempts?: number;
  /** A message was given up on: tell its sender (a visible failure), settle its task. */
  onGiveUp: (message: InboundMessage, reason: string) => Promise<void>;
}

/**
 * Delivery from the relay to the provider: accepts relay messages (downloading their attachments
 * within the size cap), catches up on unread messages after a reconnect, and feeds the
 * {@link DeliveryQueue}, which writes one turn at a time. A message is marked read on the relay
 * only when it is finished (its turn ended or its reply was sent): until then the relay's unread
 * list is the backstop that brings it back after a crash of the runner itself, and the
 * {@link DeliveryJournal} tells the next run it is a retry (or already finished).
 */
export class Inbox {
  /** The ordered, deduplicating queue of turns. */
  readonly queue: DeliveryQueue;
  readonly #d: InboxDeps;
  /**
   * Sessions that already received the relay context block ('' = given before the provider named
   * its session). Keyed by session id so a resumed session never gets it twice, however the
   * provider labels the restart.
   */
  readonly #contextGiven = new Set<string>();
  readonly #notes: DeliveryNotes;
  #stopped = false;
  #notesLoaded = false;

  constructor(deps: InboxDeps) {
    this.#d = deps;
    this.#notes = new DeliveryNotes(deps.journal, deps.logger);
    this.queue = new DeliveryQueue({
      clock: deps.clock,
      logger: deps.logger,
      inject: () => {
        const session = deps.provider.session;
        return session ? (turn) => session.deliver(turn) : undefined;
      },
      takeContextBlock: () => this.#takeContextBlock(),
      ...(deps.sendCommand ? { sendCommand: deps.sendCommand } : {}),
      onState: (event) => {
        deps.logger.info('delivery', `message ${event.messageId} ${event.state}`);
        deps.onState(event);
      },
    });
  }

  /** Accept from the relay again (start, or a start after a failed one); reads the journal once. */
  async start(): Promise<void> {
    this.#stopped = false;
    if (this.#notesLoaded) return;
    this.#notesLoaded = true;
    await this.#notes.load();
  }

  /** Accept a relay message addressed to the agent and deliver it when the provider can take it. */
  async accept(message: RelayMessage): Promise<void> {
    if (this.#stopped || message.kind !== 'message') return;
    const note = this.#notes.get(message.id);
    // Finished in this run or an earlier one (a late duplicate): only make sure it is read.
    if (note === 'finished') return void this.#markRead(message.id);
    // Shown by an earlier run that died before finishing it: delivered again, as a retry.
    const retry = note === 'consumed' && this.queue.stateOf(message.id) === undefined;
    const inbound: InboundMessage = { id: message.id, from: message.from, body: message.body, expectsReply: message.expectsReply };
    if (message.taskId) inbound.taskId = message.taskId;
    if (retry) inbound.retry = true;
    if (message.attachments.length > 0) {
      try {
        inbound.attachments = await this.#saveAttachments(message);
      } catch (error) {
        this.#d.logger.warn('attachments', `message ${message.id}: ${describeError(error)}`);
      }
    }
    if (!this.queue.accept(inbound)) return;
    if (message.expectsReply) {
      const obligation: Obligation = { messageId: message.id, from: message.from, excerpt: message.body.slice(0, 200), createdAt: message.createdAt };
      if (message.taskId) obligation.taskId = message.taskId;
      this.#d.onObligation(obligation);
    }
    await this.queue.pump();
  }

  /** Queue the runner's own first prompt (not a relay message: never marked read or mirrored). */
  acceptPrompt(body: string): void {
    this.queue.accept({ id: initialPromptId(this.#d.clock.now()), from: 'runner', body, expectsReply: false });
    void this.queue.pump();
  }

  /**
   * Fetch unread messages (after start and every reconnect); a failure is logged, never thrown.
   * A message the journal (or this run) knows as finished is only marked read again; one it knows
   * as consumed comes back as a retry; one still being worked on is never delivered twice.
   */
  async catchUp(): Promise<void> {
    const agentId = this.#d.auth.agentId;
    if (!agentId || this.#stopped) return;
    try {
      const unread = await this.#d.auth.withAuth(() => this.#d.http.pollUnread(agentId));
      const listed = new Set(unread.map((m) => m.id));
      for (const message of unread) {
        if (this.queue.stateOf(message.id) === 'finished') void this.#markRead(message.id);
        else await this.accept(message);
      }
      // A message noted as shown that the relay no longer lists unread is settled there: forget it.
      for (const id of this.#notes.ids()) {
        if (this.#notes.get(id) === 'consumed' && !listed.has(id) && this.queue.stateOf(id) === undefined) void this.#notes.set(id, undefined);
      }
      if (unread.length > 0) this.#d.logger.info('delivery', `caught up ${unread.length} unread message(s)`);
    } catch (error) {
      this.#d.logger.warn('delivery', `unread poll failed: ${describeError(error)}`);
    }
  }

  /** The provider confirmed a turn (it was shown the message): record it, durably. */
  turnStarted(ref: { deliveryId?: string; prompt?: string }): InboundMessage | undefined {
    const message = this.queue.consumed(ref);
    if (message && !isInitialPromptId(message.id)) void this.#notes.set(message.id, 'consumed');
    return message;
  }

  /** The turn ended: its messages are finished. */
  turnEnded(): void {
    for (const message of this.queue.finish()) this.#finished(message);
  }

  /** The agent answered `messageId` itself: finished, and not delivered again as a retry. */
  replied(messageId: string): void {
    for (const message of this.queue.finish(messageId)) this.#finished(message);
  }

  /** The provider died mid-turn: its messages are delivered again as retries, up to the attempt cap. */
  providerDown(): void {
    const cap = this.#d.maxAttempts ?? 3;
    for (const message of this.queue.requeueInterrupted(cap)) void this.#giveUp(message, `its turn was interrupted ${cap} times (the agent's process died each time)`);
  }

  /** The provider is gone for good: every unfinished message is given up on, visibly. */
  abandonAll(reason: string): void {
    for (const message of this.queue.abandonAll()) void this.#giveUp(message, reason);
  }

  /** Whether the agent has been shown the message (consumed, and not queued again for a retry). */
  shown(messageId: string): boolean {
    const state = this.queue.stateOf(messageId);
    return state === 'consumed' || state === 'finished';
  }

  #finished(message: InboundMessage): void {
    if (isInitialPromptId(message.id)) return;
    void this.#notes.set(message.id, 'finished').then(() => this.#markRead(message.id));
  }

  async #giveUp(message: InboundMessage, reason: string): Promise<void> {
    this.#d.logger.error('delivery', `gave up on message ${message.id} from ${message.from}: ${reason}`);
    if (!isInitialPromptId(message.id)) await this.#d.onGiveUp(message, reason).catch(() => {});
    this.#finished(message);
  }

  /** Mark a finished message read on the relay; a failure is only logged (the next catch-up retries). */
  async #markRead(messageId: string): Promise<void> {
    const agentId = this.#d.auth.agentId;
    if (!agentId) return;
    try {
      await this.#d.auth.withAuth(() => this.#d.http.markRead(agentId, [messageId]));
    } catch (error) {
      this.#d.logger.debug('delivery', `mark read ${messageId} failed: ${describeError(error)}`);
    }
  }

  /** The provider named its session; a block given before it had a name went into this session. */
  sessionNamed(sessionId: string, firstName: boolean): void {
    if (firstName && this.#contextGiven.delete('')) this.#contextGiven.add(sessionId);
  }

  /** Accept nothing more from the relay. */
  stop(): void {
    this.#stopped = true;
  }

  #takeContextBlock(): string | undefined {
    const block = this.#d.contextBlock();
    if (block === undefined) return undefined;
    const session = this.#d.provider.sessionId ?? '';
    if (this.#contextGiven.has(session)) return undefined;
    this.#contextGiven.add(session);
    return block;
  }

  /** The attachment policy: skip what exceeds the cap, download the rest through the relay port. */
  async #saveAttachments(message: RelayMessage): Promise<string[]> {
    const max = this.#d.maxAttachmentBytes;
    const paths: string[] = [];
    for (const attachment of message.attachments) {
      if (attachment.size > max) {
        this.#d.logger.warn('attachments', `skipped ${attachment.name} (${attachment.size} bytes > ${max})`);
        continue;
      }
      const bytes = await this.#d.http.downloadAttachment(attachment.url, { maxBytes: max });
      paths.push(await this.#d.saveAttachment(message.id, attachment.name, bytes));
    }
    return paths;
  }
}
