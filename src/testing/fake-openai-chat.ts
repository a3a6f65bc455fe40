/**
 * The Chat Completions half of the fake OpenAI server: how a chat request is read into a
 * {@link FakeOpenAICall} and how a scripted answer streams as `chat.completion.chunk` events. OpenCode
 * (through `@ai-sdk/openai-compatible`) and other OpenAI-compatible clients call
 * `POST …/chat/completions`; Codex calls the Responses API (`fake-openai-server.ts`).
 */
import type { FakeOpenAICall, FakeOpenAIOutput, FakeOpenAIRequest, FakeOpenAIResponse } from './fake-openai-server.js';

type Loose = Record<string, unknown>;
const asObject = (v: unknown): Loose | undefined => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Loose) : undefined);

/** Path of a chat-completions call. */
export const CHAT_COMPLETIONS_PATH = /\/chat\/completions$/;

/** Text of one chat message: a string, or the text parts of a content array. */
function messageText(message: Loose): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .map((part) => asObject(part)?.text)
    .filter((t): t is string => typeof t === 'string')
    .join('\n');
}

/** A chat-completions request as a {@link FakeOpenAICall} (`messages` read like the Responses `input`). */
export function describeChatCall(request: FakeOpenAIRequest, index: number): FakeOpenAICall {
  const body = asObject(request.body) ?? {};
  const messages = (Array.isArray(body.messages) ? body.messages : []).map((m) => asObject(m) ?? {});
  const texts = messages.map(messageText);
  let lastUserText = '';
  for (let i = messages.length - 1; i >= 0; i--) {
    if (messages[i]?.role === 'user') {
      lastUserText = texts[i] ?? '';
      break;
    }
  }
  const toolNames = (Array.isArray(body.tools) ? body.tools : [])
    .map((t) => asObject(asObject(t)?.function)?.name)
    .filter((n): n is string => typeof n === 'string');
  const instructions = messages.filter((m) => m.role === 'system').map(messageText).join('\n');
  return {
    request,
    index,
    body: {
      ...(typeof body.model === 'string' ? { model: body.model } : {}),
      input: messages,
      tools: Array.isArray(body.tools) ? body.tools : [],
      instructions,
      ...(typeof body.stream === 'boolean' ? { stream: body.stream } : {}),
    },
    text: texts.filter((_, i) => messages[i]?.role !== 'system').join('\n'),
    lastUserText,
    afterToolOutput: messages.at(-1)?.role === 'tool',
    toolNames,
  };
}

/** The function call a `shell` convenience item becomes for a chat client (OpenCode's `bash` tool). */
function chatShellCall(item: Extract<FakeOpenAIOutput, { type: 'shell' }>, toolNames: readonly string[]): { name: string; args: Loose } {
  const name = toolNames.includes('bash') ? 'bash' : toolNames.includes('shell') ? 'shell' : 'bash';
  return { name, args: { command: item.command, description: item.justification ?? 'Run a shell command', ...(item.workdir ? { workdir: item.workdir } : {}) } };
}

/**
 * The `chat.completion.chunk` objects of one scripted answer, in wire order: the role, then per
 * output item its deltas (`reasoning_content`, `content`, `tool_calls` with the arguments in
 * pieces), a last chunk with the finish reason (`tool_calls` when the answer calls a tool, else
 * `stop`) and a usage chunk.
 */
export function chatChunks(response: Extract<FakeOpenAIResponse, { output: unknown }>, call: FakeOpenAICall, id: string): Loose[] {
  const model = typeof call.body.model === 'string' ? call.body.model : 'gpt-fake';
  const chunk = (delta: Loose, finishReason: string | null = null): Loose => ({
    id,
    object: 'chat.completion.chunk',
    created: 0,
    model,
    choices: [{ index: 0, delta, finish_reason: finishReason }],
  });
  const out: Loose[] = [chunk({ role: 'assistant', content: '' })];
  let toolIndex = 0;
  response.output.forEach((item, outputIndex) => {
    switch (item.type) {
      case 'text':
        for (const piece of pieces(item.text, 40)) out.push(chunk({ content: piece }));
        break;
      case 'reasoning':
        for (const piece of pieces(item.text ?? item.summary, 40)) out.push(chunk({ reasoning_content: piece }));
        break;
      case 'function_call':
      case 'shell': {
        const { name, args } = item.type === 'shell' ? chatShellCall(item, call.toolNames) : { name: item.name, args: item.arguments };
        const argumentsText = typeof args === 'string' ? args : JSON.stringify(args);
        const callId = item.callId ?? `call_${id}_${outputIndex}`;
        const index = toolIndex++;
        out.push(chunk({ tool_calls: [{ index, id: callId, type: 'function', function: { name, arguments: '' } }] }));
        for (const piece of pieces(argumentsText, 40)) out.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
        break;
      }
    }
  });
  out.push(chunk({}, toolIndex > 0 ? 'tool_calls' : 'stop'));
  const promptTokens = response.usage?.inputTokens ?? 100;
  const completionTokens = response.usage?.outputTokens ?? 20;
  out.push({
    id,
    object: 'chat.completion.chunk',
    created: 0,
    model,
    choices: [],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
      completion_tokens_details: { reasoning_tokens: response.usage?.reasoningTokens ?? 0 },
    },
  });
  return out;
}

/** The non-streaming `chat.completion` body of one scripted answer. */
export function chatCompletion(response: Extract<FakeOpenAIResponse, { output: unknown }>, call: FakeOpenAICall, id: string): Loose {
  const chunks = chatChunks(response, call, id);
  let content = '';
  let reasoning = '';
  const toolCalls: Loose[] = [];
  for (const c of chunks) {
    const delta = asObject(asObject((c.choices as unknown[])[0])?.delta) ?? {};
    if (typeof delta.content === 'string') content += delta.content;
    if (typeof delta.reasoning_content === 'string') reasoning += delta.reasoning_content;
    for (const raw of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
      const tc = asObject(raw) ?? {};
      const fn = asObject(tc.function) ?? {};
      const index = typeof tc.index === 'number' ? tc.index : 0;
      const slot = (toolCalls[index] ??= { id: tc.id, type: 'function', function: { name: fn.name, arguments: '' } });
      const slotFn = slot.function as Loose;
      slotFn.arguments = `${String(slotFn.arguments)}${typeof fn.arguments === 'string' ? fn.arguments : ''}`;
    }
  }
  const message: Loose = { role: 'assistant', content };
  if (reasoning) message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return {
    id,
    object: 'chat.completion',
    created: 0,
    model: chunks[0]?.model,
    choices: [{ index: 0, message, finish_reason: toolCalls.length > 0 ? 'tool_calls' : 'stop' }],
    usage: chunks.at(-1)?.usage,
  };
}

/** Split text into pieces (at least one, even when empty) so deltas look like a real stream. */
function pieces(text: string, size: number): string[] {
  if (text.length <= size) return [text];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}
