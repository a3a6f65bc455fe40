/**
 * OpenCode's ACP updates → provider events (src/providers/opencode/mapping.ts), and its inline
 * config (config.ts). The shapes are the ones `opencode acp` 1.18.33 sent in the e2e runs.
 */
import { describe, expect, it } from 'vitest';
import type { ProviderEvent } from '../../src/ports/provider.js';
import { UpdateMapper } from '../../src/providers/opencode/mapping.js';
import { OPENCODE_DEFAULT_PERMISSION, allowSendScript, openCodeConfig, openCodeEnv } from '../../src/providers/opencode/config.js';

const update = (u: Record<string, unknown>) => ({ sessionId: 'ses_1', update: u });
const chunk = (kind: string, text: string) => update({ sessionUpdate: kind, messageId: 'm', content: { type: 'text', text } });

function mapper(): { m: UpdateMapper; events: ProviderEvent[] } {
  const events: ProviderEvent[] = [];
  return { m: new UpdateMapper((e) => events.push(e)), events };
}

describe('OpenCode ACP updates → provider events', () => {
  it('joins chunks of one kind into one event, in order, and hands back the last message as the final text', () => {
    const { m, events } = mapper();
    m.update(chunk('agent_thought_chunk', 'Let me '));
    m.update(chunk('agent_thought_chunk', 'think.'));
    m.update(chunk('agent_message_chunk', 'First '));
    m.update(chunk('agent_message_chunk', 'answer.'));
    m.update(update({ sessionUpdate: 'available_commands_update', availableCommands: [] }));
    m.update(chunk('agent_thought_chunk', 'More.'));
    m.update(chunk('agent_message_chunk', 'Final.'));
    expect(m.finishTurn()).toBe('Final.');
    expect(events).toEqual([
      { type: 'reasoning', text: 'Let me think.' },
      { type: 'assistant', text: 'First answer.' },
      { type: 'reasoning', text: 'More.' },
      { type: 'assistant', text: 'Final.' },
    ]);
    // The next turn starts clean.
    expect(m.finishTurn()).toBeUndefined();
  });

  it('a tool call: started once its input is known (named by the first title), then completed; text before it is flushed first', () => {
    const { m, events } = mapper();
    m.update(chunk('agent_thought_chunk', 'run it'));
    m.update(update({ sessionUpdate: 'tool_call', toolCallId: 't1', title: 'bash', kind: 'execute', status: 'pending', rawInput: { cwd: '/w' } }));
    expect(events).toEqual([{ type: 'reasoning', text: 'run it' }]);
    expect(m.tool('t1')).toMatchObject({ name: 'bash' });
    const running = { sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'in_progress', title: 'echo hi', rawInput: { command: 'echo hi', description: 'x', cwd: '/w' } };
    m.update(update(running));
    m.update(update(running));
    m.update(update({ sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'completed', title: 'echo hi', rawOutput: { output: 'hi\n' } }));
    m.update(update({ sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'completed' }));
    expect(events.slice(1)).toEqual([
      { type: 'tool', name: 'bash', summary: 'echo hi', status: 'started' },
      { type: 'tool', name: 'bash', summary: 'echo hi', status: 'completed' },
    ]);
  });

  it('a call to a tool OpenCode does not offer (denied as a whole) fails, though OpenCode reports its `invalid` stand-in completed', () => {
    const { m, events } = mapper();
    const error = "Model tried to call unavailable tool 'bash'. Available tools: edit, read.";
    m.update(update({ sessionUpdate: 'tool_call', toolCallId: 't1', title: 'bash', status: 'pending', rawInput: {} }));
    m.update(update({ sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'in_progress', rawInput: { tool: 'bash', error } }));
    m.update(update({ sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'completed', rawInput: { tool: 'bash', error } }));
    expect(events.map((e) => (e.type === 'tool' ? e.status : e.type))).toEqual(['started', 'failed']);
  });

  it('a denied call fails; a call the turn left open is failed at its end; unknown kinds and non-text content are ignored', () => {
    const { m, events } = mapper();
    m.update(update({ sessionUpdate: 'tool_call', toolCallId: 't1', title: 'bash', status: 'pending', rawInput: {} }));
    m.update(update({ sessionUpdate: 'tool_call_update', toolCallId: 't1', status: 'failed', title: 'rm -rf x', rawInput: { command: 'rm -rf x' } }));
    m.update(update({ sessionUpdate: 'tool_call', toolCallId: 't2', title: 'read', status: 'in_progress', rawInput: { filePath: '/w/a' } }));
    m.update(update({ sessionUpdate: 'some_future_kind', anything: 1 }));
    m.update(update({ sessionUpdate: 'agent_message_chunk', content: { type: 'image', data: '…' } }));
    m.update({ sessionId: 'ses_1' });
    expect(m.finishTurn()).toBeUndefined();
    expect(events).toEqual([
      { type: 'tool', name: 'bash', summary: 'rm -rf x', status: 'started' },
      { type: 'tool', name: 'bash', summary: 'rm -rf x', status: 'failed' },
      // OpenCode's file tools name the path `filePath` (the kit's summary knows it too).
      { type: 'tool', name: 'read', summary: '/w/a', status: 'started' },
      { type: 'tool', name: 'read', summary: '/w/a', status: 'failed' },
    ]);
  });
});

describe('OpenCode config and environment', () => {
  it('a model provider is enabled alone, its first model is the default, the key is an {env:…} reference', () => {
    const config = openCodeConfig({
      modelProvider: { id: 'fake', baseUrl: 'http://127.0.0.1:9/v1', models: ['m1', 'm2'], apiKeyEnv: 'FAKE_KEY' },
      permission: OPENCODE_DEFAULT_PERMISSION,
      mcp: { relay: { command: ['/usr/bin/node', '/pkg/main.js'], environment: { AGENT_RELAY_RUNNER_TOKEN: '{env:AGENT_RELAY_RUNNER_TOKEN}' } } },
      config: { share: 'manual' },
    });
    expect(config).toEqual({
      autoupdate: false,
      share: 'manual',
      provider: {
        fake: { npm: '@ai-sdk/openai-compatible', name: 'fake', options: { baseURL: 'http://127.0.0.1:9/v1', apiKey: '{env:FAKE_KEY}' }, models: { m1: { name: 'm1' }, m2: { name: 'm2' } } },
      },
      enabled_providers: ['fake'],
      model: 'fake/m1',
      small_model: 'fake/m1',
      permission: { bash: { '*': 'ask', 'agent-relay-runner send *': 'allow' }, edit: 'ask', webfetch: 'ask' },
      mcp: { relay: { type: 'local', command: ['/usr/bin/node', '/pkg/main.js'], environment: { AGENT_RELAY_RUNNER_TOKEN: '{env:AGENT_RELAY_RUNNER_TOKEN}' }, enabled: true } },
    });
  });

  it('own XDG dirs under the state dir, or the host’s own; always a TMPDIR of the run', () => {
    expect(openCodeEnv('/s', '/s/tmp-1', '{}')).toMatchObject({
      XDG_DATA_HOME: '/s/data',
      XDG_CONFIG_HOME: '/s/config',
      XDG_CACHE_HOME: '/s/cache',
      XDG_STATE_HOME: '/s/state',
      TMPDIR: '/s/tmp-1',
      OPENCODE_CONFIG_CONTENT: '{}',
    });
    const own = openCodeEnv(undefined, '/tmp/t', '{}');
    expect(own.XDG_DATA_HOME).toBeUndefined();
    expect(own.TMPDIR).toBe('/tmp/t');
  });

  it('allowing `agent-relay-runner send` also allows the PATH-free send script by its absolute path', () => {
    const rules = allowSendScript(OPENCODE_DEFAULT_PERMISSION, '/tmp/scratch/agent-relay-send');
    expect(rules.bash).toEqual({ '*': 'ask', 'agent-relay-runner send *': 'allow', '/tmp/scratch/agent-relay-send *': 'allow' });
    expect(rules.edit).toBe('ask');
    // Rules that do not allow send by name are left alone (a host that denies shell keeps it denied).
    const denied = { bash: 'deny' as const };
    expect(allowSendScript(denied, '/tmp/scratch/agent-relay-send')).toBe(denied);
    expect(allowSendScript(OPENCODE_DEFAULT_PERMISSION, undefined)).toBe(OPENCODE_DEFAULT_PERMISSION);
  });
});
