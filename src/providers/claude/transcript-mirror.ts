/**
 * Interactive Claude's session mirror beyond turns: tool steps from the PreToolUse / PostToolUse /
 * PostToolUseFailure hooks, and reasoning (thinking blocks) read from the session transcript
 * (`transcript_path` of every hook payload), in the order they happened.
 *
 * Why this shape: the TUI has no event stream, so the hooks give the tool steps and only the
 * transcript holds the thinking. A hook must never wait for the transcript, so hook events are
 * queued here and the hook answered at once; the queue reads the transcript up to the line that
 * event stands for (the tool_use id of a started tool, the final text of a finished turn; bounded
 * wait, since Claude may append it a moment after the hook fires) and emits the thinking it passed
 * first. That keeps the order headless mode has from stdout: reasoning → tool step → reply.
 */
import { open } from 'node:fs/promises';
import type { Clock } from '../../ports/clock.js';
import type { Logger } from '../../ports/logger.js';
import type { ProviderEvent } from '../../ports/provider.js';
import { describeError } from '../../shared/describe-error.js';
import { isJsonObject } from '../kit/json.js';
import { COMPONENT, shorten, sleep } from '../kit/text.js';

/** Where in the transcript a hook event stands, so reasoning before it is emitted first. */
export interface HookEventContext {
  /** The hook payload's `transcript_path`. */
  transcriptPath?: string;
  /** A started tool: read up to its `tool_use` block. */
  toolUseId?: string;
  /** A finished turn: read up to the assistant text that ended it. */
  finalText?: string;
}

/** Options of {@link TranscriptMirror}. */
export interface TranscriptMirrorOptions {
  clock: Clock;
  logger: Logger;
  /** Where events go, in order. */
  dispatch: (event: ProviderEvent) => void;
  /** How long an event waits for its line to reach the transcript. @defaultValue 2000 */
  waitMs?: number;
  /** Poll period while waiting. @defaultValue 50 */
  pollMs?: number;
}

/** Longest reasoning text mirrored (a mirror entry, not the transcript). */
const MAX_REASONING_CHARS = 8_000;
/** Most bytes read from the transcript in one step. */
const READ_CHUNK = 1 << 20;

/**
 * Orders hook events with the reasoning read from the transcript. `push` never waits; events come
 * out of `dispatch` in push order, each after the thinking the transcript holds before it.
 */
export class TranscriptMirror {
  readonly #o: Required<TranscriptMirrorOptions>;
  #chain: Promise<void> = Promise.resolve();
  #path: string | undefined;
  #offset = 0;

  constructor(options: TranscriptMirrorOptions) {
    this.#o = { waitMs: 2_000, pollMs: 50, ...options };
  }

  /** Queue `event`; the hook that reported it is not held. */
  push(event: ProviderEvent, context: HookEventContext = {}): void {
    this.#chain = this.#chain
      .then(() => this.#handle(event, context))
      .catch((error: unknown) => {
        this.#o.logger.warn(COMPONENT, `claude-interactive: transcript read failed (${describeError(error)}); event passed on without reasoning`);
        this.#o.dispatch(event);
      });
  }

  /** Settles when every queued event was dispatched (tests, shutdown). */
  idle(): Promise<void> {
    return this.#chain;
  }

  async #handle(event: ProviderEvent, context: HookEventContext): Promise<void> {
    const path = context.transcriptPath;
    if (path) {
      if (event.type === 'session' || event.type === 'turn.started') {
        // A new turn (or a resumed session's old history): what is there now is not this turn's.
        await this.#skip(path);
      } else if (event.type === 'turn.completed' || (event.type === 'tool' && event.status === 'started')) {
        await this.#readUntil(path, context);
      }
    }
    this.#o.dispatch(event);
  }

  /** Move to the end of the transcript (complete lines only), emitting nothing. */
  async #skip(path: string): Promise<void> {
    this.#follow(path);
    while ((await this.#step(path, () => false, false)) === 'more');
  }

  /** Emit the reasoning up to the line `context` names, waiting (bounded) for it to be written. */
  async #readUntil(path: string, context: HookEventContext): Promise<void> {
    this.#follow(path);
    const isMarker = markerOf(context);
    const deadline = this.#o.clock.now() + (isMarker ? this.#o.waitMs : 0);
    for (;;) {
      const result = await this.#step(path, isMarker ?? (() => false), true);
      if (result === 'found') return;
      if (result === 'more') continue;
      if (this.#o.clock.now() >= deadline) {
        if (isMarker) this.#o.logger.debug(COMPONENT, `claude-interactive: transcript line for the ${context.toolUseId ? `tool ${context.toolUseId}` : 'turn end'} not seen within ${this.#o.waitMs} ms`);
        return;
      }
      await sleep(this.#o.clock, this.#o.pollMs);
    }
  }

  #follow(path: string): void {
    if (path === this.#path) return;
    this.#path = path;
    this.#offset = 0;
  }

  /**
   * Read one chunk of complete lines from the offset. Returns `found` when a line matched (the
   * offset stays just past it), `more` when the chunk was full, `end` at the end of what is written.
   */
  async #step(path: string, isMarker: (block: Record<string, unknown>) => boolean, emit: boolean): Promise<'found' | 'more' | 'end'> {
    let handle;
    try {
      handle = await open(path, 'r');
    } catch {
      return 'end'; // not written yet
    }
    try {
      const buffer = Buffer.alloc(READ_CHUNK);
      const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, this.#offset);
      if (!emit) {
        // Skipping (a resumed session's history can be megabytes): no need to parse, only to find
        // the end of the last complete line.
        const last = bytesRead === 0 ? -1 : buffer.lastIndexOf(10, bytesRead - 1);
        if (last === -1 && bytesRead === READ_CHUNK) {
          this.#offset += bytesRead; // one line over the chunk: its tail fails to parse later, harmlessly
          return 'more';
        }
        this.#offset += last + 1;
        return bytesRead === READ_CHUNK ? 'more' : 'end';
      }
      let start = 0;
      for (let nl = buffer.indexOf(10, 0); nl !== -1 && nl < bytesRead; nl = buffer.indexOf(10, start)) {
        const line = buffer.subarray(start, nl).toString('utf8');
        start = nl + 1;
        if (this.#line(line, isMarker, emit)) {
          this.#offset += start;
          return 'found';
        }
      }
      if (start === 0 && bytesRead === READ_CHUNK) start = bytesRead; // one line over the chunk: skip it
      this.#offset += start;
      return bytesRead === READ_CHUNK ? 'more' : 'end';
    } finally {
      await handle.close();
    }
  }

  /** One transcript line: emit its thinking (the main agent's only); true when it holds the marker. */
  #line(line: string, isMarker: (block: Record<string, unknown>) => boolean, emit: boolean): boolean {
    let entry: unknown;
    try {
      entry = JSON.parse(line);
    } catch {
      return false;
    }
    if (!isJsonObject(entry) || entry.type !== 'assistant' || entry.isSidechain === true) return false;
    const content = isJsonObject(entry.message) ? entry.message.content : undefined;
    if (!Array.isArray(content)) return false;
    for (const block of content) {
      if (!isJsonObject(block)) continue;
      if (block.type === 'thinking' && typeof block.thinking === 'string' && block.thinking.trim() && emit) {
        this.#o.dispatch({ type: 'reasoning', text: shorten(block.thinking.trim(), MAX_REASONING_CHARS) });
      }
      if (isMarker(block)) return true;
    }
    return false;
  }
}

/** The test for the transcript block an event stands for, if it names one. */
function markerOf(context: HookEventContext): ((block: Record<string, unknown>) => boolean) | undefined {
  if (context.toolUseId) {
    const id = context.toolUseId;
    return (block) => block.type === 'tool_use' && block.id === id;
  }
  const text = context.finalText?.trim();
  // The turn's final message may be several text blocks: its last one ends the final text.
  if (text) return (block) => block.type === 'text' && typeof block.text === 'string' && block.text.trim() !== '' && text.endsWith(block.text.trim());
  return undefined;
}
