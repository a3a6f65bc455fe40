/**
 * The fake OpenAI server's Chat Completions API (src/testing/fake-openai-chat.ts), over real HTTP:
 * the streamed `chat.completion.chunk` shape OpenAI-compatible clients (OpenCode) read, the
 * non-streaming body, errors, and what a script function is told about the call.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeOpenAIServer, type FakeOpenAICall, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';

let server: FakeOpenAIServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const post = (body: unknown) =>
  fetch(`${server!.baseUrl}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** The `data:` payloads of an SSE body. */
const dataLines = (text: string): string[] => text.split('\n\n').filter((b) => b.startsWith('data: ')).map((b) => b.slice('data: '.length));

describe('fake OpenAI server: chat completions', () => {
  it('streams role, reasoning, text and a tool call as chunks, then the finish reason, usage and [DONE]', async () => {
    const calls: FakeOpenAICall[] = [];
    server = await createFakeOpenAIServer((call) => {
      calls.push(call);
      return { output: [{ type: 'reasoning', summary: 'hmm' }, { type: 'text', text: 'x'.repeat(50) }, { type: 'shell', command: 'echo hi', callId: 'c1' }], usage: { inputTokens: 7, outputTokens: 3 } };
    });
    const res = await post({
      model: 'fake-model',
      stream: true,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: [{ type: 'text', text: 'run it' }] },
      ],
      tools: [{ type: 'function', function: { name: 'bash', parameters: {} } }, { type: 'function', function: { name: 'read', parameters: {} } }],
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const data = dataLines(await res.text());
    expect(data.at(-1)).toBe('[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as { object: string; model: string; choices: Array<{ delta: Record<string, unknown>; finish_reason: string | null }>; usage?: Record<string, number> });
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'fake-model')).toBe(true);
    const deltas = chunks.flatMap((c) => c.choices.map((ch) => ch.delta));
    expect(deltas[0]).toEqual({ role: 'assistant', content: '' });
    expect(deltas.map((d) => d.reasoning_content ?? '').join('')).toBe('hmm');
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('x'.repeat(50));
    expect(deltas.filter((d) => typeof d.content === 'string' && d.content !== '').length).toBe(2); // streamed in pieces
    const calls0 = deltas.flatMap((d) => (d.tool_calls as Array<{ index: number; id?: string; function: { name?: string; arguments: string } }> | undefined) ?? []);
    expect(calls0[0]).toMatchObject({ index: 0, id: 'c1', type: 'function', function: { name: 'bash', arguments: '' } });
    expect(JSON.parse(calls0.map((c) => c.function.arguments).join(''))).toEqual({ command: 'echo hi', description: 'Run a shell command' });
    expect(chunks.flatMap((c) => c.choices).at(-1)?.finish_reason).toBe('tool_calls');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } });
    // What the script saw.
    expect(calls[0]).toMatchObject({ index: 0, lastUserText: 'run it', afterToolOutput: false, toolNames: ['bash', 'read'], text: 'run it' });
    expect(calls[0]?.body.instructions).toBe('be brief');
    expect(server.chatRequests()).toHaveLength(1);
    expect(server.responseRequests()).toHaveLength(0);
  });

  it('answers without stream as one chat.completion; a tool result last is afterToolOutput; errors carry their status', async () => {
    server = await createFakeOpenAIServer([{ output: [{ type: 'text', text: 'done' }] }, { kind: 'error', status: 429, message: 'slow down' }]);
    const res = await post({ model: 'm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', tool_calls: [] }, { role: 'tool', content: 'out' }] });
    expect(await res.json()).toMatchObject({ object: 'chat.completion', choices: [{ message: { role: 'assistant', content: 'done' }, finish_reason: 'stop' }] });
    const err = await post({ model: 'm', stream: true, messages: [] });
    expect(err.status).toBe(429);
    expect(await err.json()).toMatchObject({ error: { message: 'slow down' } });
  });

  it('tells the script a tool result came last', async () => {
    const seen: boolean[] = [];
    server = await createFakeOpenAIServer((call) => {
      seen.push(call.afterToolOutput);
      return { output: [{ type: 'text', text: 'ok' }] };
    });
    await (await post({ model: 'm', stream: true, messages: [{ role: 'user', content: 'q' }, { role: 'tool', tool_call_id: 'c', content: 'out' }] })).text();
    await (await post({ model: 'm', stream: true, messages: [{ role: 'user', content: 'q' }] })).text();
    expect(seen).toEqual([true, false]);
  });
});
