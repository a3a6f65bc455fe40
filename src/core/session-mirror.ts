import type { AgentFeatures } from '../ports/relay-http.js';
import type { InboundMessage } from './delivery.js';
import { isInitialPromptId } from './turns.js';

/**
 * A session-mirror entry the runner posted (through the outbox) for the relay.
 * @public
 */
export interface MirrorEvent {
  /** `prompt`, `reply`, `reasoning` or `tool`. */
  entry: 'prompt' | 'reply' | 'reasoning' | 'tool';
  /** Text posted. */
  body: string;
  /** The relay message this entry belongs to, when known. */
  replyTo?: string;
}

/** What {@link SessionMirror} needs. */
export interface SessionMirrorDeps {
  /** The relay's feature switches for this agent (undefined before registration). */
  features: () => AgentFeatures | undefined;
  /** Queue an event for the relay through the outbox (never rejects). */
  enqueue: (kind: string, payload: Record<string, unknown>) => Promise<void>;
  /** A mirror entry was queued. */
  onMirror: (event: MirrorEvent) => void;
}

interface Turn {
  message?: InboundMessage;
  repliedTo: Set<string>;
  lastText: string;
  claimedTask?: string;
}

/** Tools that gather context (vs. act), for the `context_ratio` insight. */
const GATHER_TOOLS = /^(read|grep|glob|ls|list|search|find|webfetch|websearch|lookup|view|cat)/i;

/**
 * Session mirror and insights: mirrors each turn's prompt, reasoning, tool steps and final reply
 * to the relay through the outbox (never posting a reply the agent already sent itself), keeps
 * the status of a task the turn claimed, and turns the session's tool use into a `context_ratio`
 * insight when the session ends.
 */
export class SessionMirror {
  readonly #d: SessionMirrorDeps;
  #turn: Turn | undefined;
  #tools = { gather: 0, act: 0 };

  constructor(deps: SessionMirrorDeps) {
    this.#d = deps;
  }

  /** Whether a turn is open. */
  get turnOpen(): boolean {
    return this.#turn !== undefined;
  }

  /** A turn began: for a relay message (`message`), or typed by a human (`prompt` only). */
  turnStarted(message: InboundMessage | undefined, prompt: string | undefined): void {
    this.#turn = { repliedTo: new Set(), lastText: '' };
    if (message) this.#turn.message = message;
    if (message && !isInitialPromptId(message.id)) {
      this.#mirror('prompt', message.body, message.id);
      if (message.taskId) {
        this.#turn.claimedTask = message.taskId;
        void this.#d.enqueue('task_status', { taskId: message.taskId, status: 'in_progress', messageId: message.id });
      }
    } else if (prompt && !message) {
      this.#mirror('prompt', prompt); // typed into the TUI by a human
    }
  }

  /** Reasoning text of the open turn. */
  reasoning(text: string): void {
    this.#mirror('reasoning', text, this.#turn?.message?.id);
  }

  /** A tool step; started tools count towards the context ratio. */
  tool(name: string, status: 'started' | 'completed' | 'failed', summary: string): void {
    if (status === 'started') {
      if (GATHER_TOOLS.test(name)) this.#tools.gather++;
      else this.#tools.act++;
    }
    this.#mirror('tool', `${name} ${status}: ${summary}`, this.#turn?.message?.id);
  }

  /** The agent's latest text in the open turn (the fallback final reply). */
  assistant(text: string): void {
    if (this.#turn) this.#turn.lastText = text;
  }

  /** The agent answered `messageId` itself (`send --reply-to`). */
  replied(messageId: string): void {
    this.#turn?.repliedTo.add(messageId);
  }

  /** The turn ended: mirror its final reply unless already answered or interrupted; settle its task. */
  turnEnded(finalText: string | undefined, interrupted: boolean): void {
    const turn = this.#turn;
    this.#turn = undefined;
    const text = (finalText ?? turn?.lastText ?? '').trim();
    const messageId = turn?.message?.id;
    // The agent already answered this message itself: don't post its final text a second time.
    if (text && !(messageId && turn?.repliedTo.has(messageId)) && !interrupted) {
      this.#mirror('reply', text, messageId && !isInitialPromptId(messageId) ? messageId : undefined);
    }
    if (turn?.claimedTask) {
      void this.#d.enqueue('task_status', {
        taskId: turn.claimedTask,
        status: interrupted ? 'failed' : 'completed',
        messageId: turn.message?.id,
      });
    }
  }

  /**
   * The turn was lost with the provider's process: nothing is mirrored as its reply and its task
   * stays `in_progress`, because the message is delivered again (as a retry) after the restart.
   */
  turnLost(): void {
    this.#turn = undefined;
  }

  /**
   * A message was given up on (its turns kept dying, or the provider is gone for good): its sender
   * gets a visible failure as the reply (which also settles the obligation), its task `failed`.
   */
  async gaveUp(message: InboundMessage, reason: string): Promise<void> {
    if (message.expectsReply) await this.#d.enqueue('message', { kind: 'message', to: message.from, replyTo: message.id, body: `[agent-relay-runner] ${reason}.` });
    if (message.taskId) await this.#d.enqueue('task_status', { taskId: message.taskId, status: 'failed', messageId: message.id });
  }

  /** The session ended: queue the `context_ratio` insight of its tool use, once. */
  async sessionEnded(sessionId: string | undefined): Promise<void> {
    const { gather, act } = this.#tools;
    if (gather + act === 0 || this.#d.features()?.insights === false) return;
    this.#tools = { gather: 0, act: 0 };
    await this.#d.enqueue('insight', {
      type: 'context_ratio',
      data: { gather, act, ratio: Math.round((gather / (gather + act)) * 1000) / 1000, sessionId: sessionId ?? null },
    });
  }

  #mirror(entry: MirrorEvent['entry'], body: string, replyTo?: string): void {
    if (this.#d.features()?.sessionMirror === false) return;
    const payload: Record<string, unknown> = { kind: 'session', entry, body, to: '' };
    if (replyTo) payload.replyTo = replyTo;
    void this.#d.enqueue('session', payload);
    const event: MirrorEvent = { entry, body };
    if (replyTo) event.replyTo = replyTo;
    this.#d.onMirror(event);
  }
}
