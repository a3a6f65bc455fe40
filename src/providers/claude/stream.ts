import type { ProviderEvent, ProviderTurn } from '../../ports/provider.js';
import { isJsonObject, num, str, type Json } from '../kit/json.js';
import { shorten, summarizeToolInput } from '../kit/text.js';

// Claude Code's stream-json protocol (`claude -p --input-format stream-json --output-format
// stream-json --verbose`): the mapping from its stdout objects to provider events, and the user
// message a turn becomes.

const SUMMARY_CHARS = 200;

const isObj = isJsonObject;

/** Text of a tool result's content (string or text blocks). */
function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((b) => (isObj(b) && typeof b.text === 'string' ? b.text : '')).join('\n');
  return '';
}

/**
 * State that turns Claude Code's stream-json stdout into {@link ProviderEvent}s.
 * @remarks Exported for unit tests of the mapping; the session owns one per process.
 * @internal
 */
export class ClaudeStreamMapper {
  /** Session ids already announced (one `session` event each). */
  #announced = new Set<string>();
  /** Tool names by tool_use id, to name the result. */
  #tools = new Map<string, string>();
  #lastUsage: { used: number } | undefined;
  #turnOpen = false;
  /** Id of the open turn (the CLI has none): `turn.completed` names the turn that started. */
  #turnId: string | undefined;
  #turnSeq = 0;
  #interruptRequested = false;

  constructor(
    private readonly resumed: boolean,
    /** Delivery id of the turn a `system/init` line starts (the oldest written turn), if any. */
    private readonly nextWrittenTurn: () => string | undefined,
  ) {}

  /** The runner asked to interrupt the running turn: its `result` ends it as interrupted, quietly. */
  noteInterrupt(): void {
    if (this.#turnOpen) this.#interruptRequested = true;
  }

  /** Whether a turn started (init seen) and has not produced its `result` yet. */
  get turnOpen(): boolean {
    return this.#turnOpen;
  }

  /** Events for one parsed stdout object; unknown types and fields are ignored (tolerated). */
  map(raw: Json): ProviderEvent[] {
    const events: ProviderEvent[] = [];
    const sessionId = str(raw.session_id);
    const type = str(raw.type);
    const subtype = str(raw.subtype);
    if (sessionId && !this.#announced.has(sessionId)) {
      // The SessionStart hook line comes first (before any turn) and names its source.
      const hookSource = /^SessionStart:(startup|resume|clear|compact)$/.exec(str(raw.hook_name) ?? '')?.[1];
      const source = (hookSource ?? (this.resumed ? 'resume' : 'startup')) as 'startup' | 'resume' | 'clear' | 'compact';
      this.#announced.add(sessionId);
      events.push({ type: 'session', sessionId, source });
    }
    switch (type) {
      case 'system':
        if (subtype === 'init') {
          // One init per turn: the turn has taken the oldest written user message.
          this.#turnOpen = true;
          this.#turnId = `turn-${++this.#turnSeq}`;
          const deliveryId = this.nextWrittenTurn();
          events.push({ type: 'turn.started', turnId: this.#turnId, ...(deliveryId ? { deliveryId } : {}) });
        } else if (subtype === 'permission_denied') {
          const toolId = str(raw.tool_use_id);
          if (toolId) this.#tools.delete(toolId);
          events.push({ type: 'tool', name: str(raw.tool_name) ?? 'tool', summary: shorten(str(raw.message) ?? 'permission denied', SUMMARY_CHARS), status: 'failed' });
        }
        return events;
      case 'assistant': {
        const message = raw.message;
        if (!isObj(message)) return events;
        // Subagent traffic (parent_tool_use_id set) is the subagent's own, not the agent's reply.
        const nested = typeof raw.parent_tool_use_id === 'string';
        const usage = message.usage;
        if (isObj(usage) && !nested) {
          const used = num(usage.input_tokens) + num(usage.cache_creation_input_tokens) + num(usage.cache_read_input_tokens) + num(usage.output_tokens);
          if (used > 0) this.#lastUsage = { used };
        }
        for (const block of Array.isArray(message.content) ? message.content : []) {
          if (!isObj(block)) continue;
          if (block.type === 'thinking' && typeof block.thinking === 'string' && block.thinking.trim() !== '') {
            events.push({ type: 'reasoning', text: block.thinking });
          } else if (block.type === 'text' && typeof block.text === 'string' && !nested) {
            events.push({ type: 'assistant', text: block.text });
          } else if (block.type === 'tool_use') {
            const name = str(block.name) ?? 'tool';
            const id = str(block.id);
            if (id) this.#tools.set(id, name);
            events.push({ type: 'tool', name, summary: summarizeToolInput(block.input), status: 'started' });
          }
        }
        return events;
      }
      case 'user': {
        const message = raw.message;
        if (!isObj(message) || !Array.isArray(message.content)) return events;
        for (const block of message.content) {
          if (!isObj(block) || block.type !== 'tool_result') continue;
          const id = str(block.tool_use_id);
          if (!id || !this.#tools.has(id)) continue; // already reported (e.g. a denial)
          const name = this.#tools.get(id) ?? 'tool';
          this.#tools.delete(id);
          events.push({
            type: 'tool',
            name,
            summary: shorten(resultText(block.content).replace(/\s+/g, ' ').trim(), SUMMARY_CHARS),
            status: block.is_error === true ? 'failed' : 'completed',
          });
        }
        return events;
      }
      case 'result': {
        this.#turnOpen = false;
        const turnId = this.#turnId !== undefined ? { turnId: this.#turnId } : {};
        this.#turnId = undefined;
        this.#tools.clear();
        const failed = raw.is_error === true || (subtype !== undefined && subtype !== 'success');
        const interruptRequested = this.#interruptRequested;
        this.#interruptRequested = false;
        if (interruptRequested && (failed || raw.terminal_reason === 'interrupted' || raw.stop_reason === null)) {
          events.push({ type: 'turn.completed', ...turnId, interrupted: true });
        } else if (failed) {
          const reason = str(raw.result) ?? subtype ?? 'error';
          events.push({ type: 'warning', message: `Claude Code turn ended with an error (${subtype ?? 'unknown'}): ${shorten(reason)}` });
          events.push({ type: 'turn.completed', ...turnId, interrupted: true });
        } else {
          const finalText = str(raw.result);
          events.push({ type: 'turn.completed', ...turnId, ...(finalText !== undefined ? { finalText } : {}) });
        }
        const windowTokens = contextWindow(raw.modelUsage);
        if (this.#lastUsage) {
          events.push({ type: 'usage', usedTokens: this.#lastUsage.used, ...(windowTokens ? { windowTokens } : {}) });
        }
        return events;
      }
      default:
        return events;
    }
  }
}

/** The largest `contextWindow` among the models a result reports. */
function contextWindow(modelUsage: unknown): number | undefined {
  if (!isObj(modelUsage)) return undefined;
  let best = 0;
  for (const usage of Object.values(modelUsage)) if (isObj(usage)) best = Math.max(best, num(usage.contextWindow));
  return best > 0 ? best : undefined;
}

/**
 * The stream-json user message for a turn. The runner already put the sender header (who, message
 * id, how to reply) into the text; the structured sender rides along as metadata the CLI ignores.
 * @internal
 */
export function claudeUserMessage(turn: ProviderTurn): Json {
  return { type: 'user', message: { role: 'user', content: [{ type: 'text', text: turn.text }] }, parent_tool_use_id: null };
}
