import type { Clock } from '../ports/clock.js';
import type { Logger } from '../ports/logger.js';
import type { ProviderSession } from '../ports/provider.js';
import type { RelayHttp, RelayMessage } from '../ports/relay-http.js';
import { DeliveryQueue, type DeliveryEvent, type InboundMessage } from './delivery.js';
import { initialPromptId } from './turns.js';
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
  /** A delivery changed state. */
  onState: (event: DeliveryEvent) => void;
  /** A message that expects a reply was accepted (the obligations changed). */
  onObligation: () => void;
}

/**
 * Delivery from the relay to the provider: accepts relay messages (downloading their attachments
 * within the size cap), catches up on unread messages after a reconnect, marks consumed messages
 * read, and feeds the {@link DeliveryQueue}, which writes one turn at a time.
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
  #stopped = false;

  constructor(deps: InboxDeps) {
    this.#d = deps;
    this.queue = new DeliveryQueue({
      clock: deps.clock,
      logger: deps.logger,
      inject: () => {
        const session = deps.provider.session;
        return session ? (turn) => session.deliver(turn) : undefined;
      },
      takeContextBlock: () => this.#takeContextBlock(),
      onState: (event) => {
        deps.logger.info('delivery', `message ${event.messageId} ${event.state}`);
        deps.onState(event);
      },
    });
  }

  /** Accept a relay message addressed to the agent and deliver it when the provider can take it. */
  async accept(message: RelayMessage): Promise<void> {
    if (this.#stopped || message.kind !== 'message') return;
    const inbound: InboundMessage = { id: message.id, from: message.from, body: message.body, expectsReply: message.expectsReply };
    if (message.taskId) inbound.taskId = message.taskId;
    if (message.attachments.length > 0) {
      try {
        inbound.attachments = await this.#saveAttachments(message);
      } catch (error) {
        this.#d.logger.warn('attachments', `message ${message.id}: ${describeError(error)}`);
      }
    }
    if (!this.queue.accept(inbound)) return;
    if (message.expectsReply) this.#d.onObligation();
    await this.queue.pump();
  }

  /** Queue the runner's own first prompt (not a relay message: never marked read or mirrored). */
  acceptPrompt(body: string): void {
    this.queue.accept({ id: initialPromptId(this.#d.clock.now()), from: 'runner', body, expectsReply: false });
    void this.queue.pump();
  }

  /** Fetch unread messages (after start and every reconnect); a failure is logged, never thrown. */
  async catchUp(): Promise<void> {
    const agentId = this.#d.auth.agentId;
    if (!agentId || this.#stopped) return;
    try {
      const unread = await this.#d.auth.withAuth(() => this.#d.http.pollUnread(agentId));
      for (const message of unread) await this.accept(message);
      if (unread.length > 0) this.#d.logger.info('delivery', `caught up ${unread.length} unread message(s)`);
    } catch (error) {
      this.#d.logger.warn('delivery', `unread poll failed: ${describeError(error)}`);
    }
  }

  /** Mark a consumed message read on the relay; a failure is harmless and only logged. */
  async markRead(messageId: string): Promise<void> {
    const agentId = this.#d.auth.agentId;
    if (!agentId) return;
    try {
      await this.#d.auth.withAuth(() => this.#d.http.markRead(agentId, [messageId]));
    } catch (error) {
      // Harmless: an unread message that was already delivered is deduped by id.
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
