import type { ProviderEvent } from '../../ports/provider.js';
import { asObject, str, type Json } from '../kit/json.js';
import { summarizeToolInput } from '../kit/text.js';

/** A tool call as far as the session has seen it. */
interface ToolCall {
  /** The tool's name: the title of the first `tool_call` update (`bash`, `read`, `relay_reply`, …). */
  name: string;
  summary: string;
  started: boolean;
  settled: boolean;
  /** OpenCode ran its `invalid` tool instead: the model called a tool it does not offer. */
  refused: boolean;
}

/**
 * The input OpenCode gives its `invalid` tool when the model calls a tool it does not offer (one
 * the permission rules deny as a whole, e.g. a profile's disallowed tool): `{ tool, error }`. That
 * call "completes" with the error as its output; for the mirror it failed.
 */
function isRefusal(input: unknown): boolean {
  const o = asObject(input);
  return o !== undefined && typeof o.tool === 'string' && typeof o.error === 'string' && /unavailable tool/.test(o.error);
}

/**
 * Turns ACP `session/update` notifications of one OpenCode session into provider events.
 *
 * @remarks
 * Text and reasoning come as chunks (`agent_message_chunk`, `agent_thought_chunk`); consecutive
 * chunks of one kind make one `assistant` or `reasoning` event, emitted when something else
 * arrives or the turn ends, so the mirror shows whole paragraphs in the order they happened. A
 * tool call is announced `pending` without its input (`tool_call`, title = the tool's name), then
 * `in_progress` with it (title = the command): the `tool` `started` event waits for the input;
 * `completed` / `failed` settle it once (a call OpenCode refused as an unavailable tool fails). Everything else (`plan`, `available_commands_update`,
 * mode and config updates, echoed `user_message_chunk`s, kinds a newer OpenCode adds) is ignored.
 */
export class UpdateMapper {
  readonly #tools = new Map<string, ToolCall>();
  #segment: { kind: 'assistant' | 'reasoning'; text: string } | undefined;
  #lastAssistant: string | undefined;

  constructor(private readonly emit: (event: ProviderEvent) => void) {}

  /** The name and summary of a tool call, for a permission request about it. */
  tool(toolCallId: string | undefined): { name: string; summary: string } | undefined {
    return toolCallId === undefined ? undefined : this.#tools.get(toolCallId);
  }

  /** Map one `session/update` params object. */
  update(params: Json): void {
    const update = asObject(params.update);
    if (!update) return;
    switch (str(update.sessionUpdate)) {
      case 'agent_message_chunk':
        this.#chunk('assistant', update);
        return;
      case 'agent_thought_chunk':
        this.#chunk('reasoning', update);
        return;
      case 'tool_call':
      case 'tool_call_update':
        this.flush();
        this.#toolUpdate(update);
        return;
      default:
    }
  }

  /** Emit the text gathered so far (before a tool step, at the end of a turn). */
  flush(): void {
    const segment = this.#segment;
    this.#segment = undefined;
    if (!segment || segment.text.trim() === '') return;
    if (segment.kind === 'assistant') this.#lastAssistant = segment.text;
    this.emit({ type: segment.kind, text: segment.text });
  }

  /** End of a turn: flush, settle tools left open (as failed), and hand back the final reply. */
  finishTurn(): string | undefined {
    this.flush();
    for (const tool of this.#tools.values()) {
      if (tool.started && !tool.settled) this.emit({ type: 'tool', name: tool.name, summary: tool.summary, status: 'failed' });
    }
    this.#tools.clear();
    const finalText = this.#lastAssistant;
    this.#lastAssistant = undefined;
    return finalText;
  }

  #chunk(kind: 'assistant' | 'reasoning', update: Json): void {
    const content = asObject(update.content);
    const text = content && str(content.type) === 'text' ? str(content.text) : undefined;
    if (text === undefined) return;
    if (this.#segment && this.#segment.kind !== kind) this.flush();
    if (this.#segment) this.#segment.text += text;
    else this.#segment = { kind, text };
  }

  #toolUpdate(update: Json): void {
    const id = str(update.toolCallId);
    if (id === undefined) return;
    const status = str(update.status);
    const input = update.rawInput;
    const hasInput = asObject(input) !== undefined && Object.keys(input as Json).some((k) => k !== 'cwd');
    let tool = this.#tools.get(id);
    if (!tool) {
      tool = { name: str(update.title) ?? str(update.kind) ?? 'tool', summary: '', started: false, settled: false, refused: false };
      this.#tools.set(id, tool);
    }
    if (hasInput) {
      tool.summary = summarizeToolInput(input);
      tool.refused = isRefusal(input);
    }
    else if (tool.summary === '' && update.sessionUpdate === 'tool_call_update' && str(update.title)) tool.summary = str(update.title) ?? '';
    if (tool.settled) return;
    const settled = status === 'completed' ? (tool.refused ? 'failed' : 'completed') : status === 'failed' ? 'failed' : undefined;
    if (!tool.started && (hasInput || settled)) {
      tool.started = true;
      this.emit({ type: 'tool', name: tool.name, summary: tool.summary, status: 'started' });
    }
    if (settled) {
      tool.settled = true;
      this.emit({ type: 'tool', name: tool.name, summary: tool.summary, status: settled });
    }
  }
}
