/**
 * End to end: the real, pinned Claude Code CLI answers a relay message through the relay tools
 * (issue 11, item 2): the fake model's tool call performs the reply — through the MCP tool
 * `mcp__relay__reply` (headless and interactive) and through the runner's absolute-path `send`
 * script from the Bash tool (headless and interactive). No `agent-relay-runner` shim on PATH in any of them.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../helpers/rig.js';
import type { FakeAnthropicCall, FakeAnthropicResponse } from '../../src/testing/fake-anthropic-server.js';
import { createClaudeInteractiveProvider } from '../../src/providers/claude/interactive.js';
import { CLAUDE_BIN, ensureClis, startClaudeRig, type ClaudeRig } from './claude-helpers.js';

let rig: ClaudeRig | undefined;

beforeAll(() => {
  ensureClis();
}, 600_000);

afterEach(async () => {
  if (process.env.E2E_DEBUG && rig) {
    console.log('HOOKS', JSON.stringify(rig.hooks.map((h) => [h.path, h.status, h.response.slice(0, 200)]), null, 1));
    console.log('TOOLS', JSON.stringify(rig.model.messageRequests().map((q) => [q.rawBody.includes('what is 2+2'), ((q.body as { tools?: Array<{ name?: string }> }).tools ?? []).map((t) => t.name)])));
    console.log('MIRRORS', JSON.stringify(rig.mirrors).slice(0, 3000));
    console.log('LOG', rig.logger.entries.map((e) => `${e.level} ${e.component} ${e.message}`.slice(0, 400)).join('\n'));
    console.log('MODEL', JSON.stringify(rig.model.messageRequests().map((q) => JSON.stringify((q.body as { messages: unknown[] }).messages.slice(-2)).slice(-1500)), null, 1));
  }
  await rig?.close();
  rig = undefined;
}, 30_000);

const E2E_TIMEOUT = 120_000;
const WAIT = 60_000;
const text = (t: string): FakeAnthropicResponse => ({ blocks: [{ type: 'text', text: t }] });
const relayAnswer = (r: ClaudeRig, messageId: string) => r.relay.listMessages().find((m) => m.kind === 'message' && m.replyTo === messageId);
/** The tools offered in the model request that carried the relay message: the relay tools are loaded from the first turn, not deferred. */
const toolNames = (r: ClaudeRig, marker: string) =>
  ((r.model.messageRequests().find((q) => q.rawBody.includes(marker))?.body as { tools?: Array<{ name?: string }> } | undefined)?.tools ?? []).map((t) => t.name);

/** First-run state the TUI needs (as in claude-interactive.test.ts): onboarding done, cwd trusted, key approved. */
async function trustTui(r: ClaudeRig): Promise<void> {
  const config = {
    hasCompletedOnboarding: true,
    customApiKeyResponses: { approved: ['sk-ant-e2e-dummy'.slice(-20)], rejected: [] },
    projects: { [r.work]: { hasTrustDialogAccepted: true, hasCompletedProjectOnboarding: true, allowedTools: [] } },
  };
  await writeFile(join(r.configDir, '.claude.json'), JSON.stringify(config), { mode: 0o600 });
}

/** The model: answers the relay message with `mcp__relay__reply` (message id from the header), then closes. */
function replyThroughMcp(call: FakeAnthropicCall): FakeAnthropicResponse {
  if (call.text.includes('queued for alice')) return text('Answered alice.'); // after the tool result
  const header = /\[relay message (msg_\w+) from alice · expects a reply/.exec(call.text);
  if (header) return { blocks: [{ type: 'tool_use', name: 'mcp__relay__reply', input: { message_id: header[1], body: '4' } }] };
  return text('(unexpected)');
}

describe('Claude Code answers through the relay tools, end to end', () => {
  it('headless: the model calls mcp__relay__reply; the reply reaches alice with replyTo and the Stop never blocks', async () => {
    rig = await startClaudeRig(replyThroughMcp, {}, {}, { sendShim: false });
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    const answer = await waitFor(() => relayAnswer(r, sent.id), 'the reply on the relay', WAIT);
    expect(answer).toMatchObject({ from: 'claude-worker', to: 'alice', body: '4' });
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn', WAIT);
    expect(toolNames(r, 'what is 2+2')).toEqual(expect.arrayContaining(['mcp__relay__reply', 'mcp__relay__send', 'mcp__relay__owed', 'mcp__relay__attachments']));
    // The tool went through the control port's /reply (the MCP server inherits the port from Claude).
    expect(r.hooks.some((h) => h.path === '/reply' && h.status === 200)).toBe(true);
    // Answered before the turn ended: the Stop decision let it stop at once.
    const stops = r.hooks.filter((h) => h.path === '/hooks/stop');
    expect(stops.length).toBeGreaterThan(0);
    expect(stops.every((h) => h.status === 204)).toBe(true);
    expect(r.relay.obligations(r.runner.agentId!)).toEqual([]);
    // No permission was asked for the relay tool (allowed by default).
    expect(r.hooks.filter((h) => h.path === '/hooks/permission-request')).toEqual([]);
  }, E2E_TIMEOUT);

  it('headless: the model runs the absolute-path send script from Bash (nothing on PATH), after a blocked Stop', async () => {
    const commands: string[] = [];
    rig = await startClaudeRig(
      (call: FakeAnthropicCall) => {
        if (call.text.includes('queued for alice')) return text('Answered alice.'); // after the send's output
        // The Stop hook's block reason comes back as the next user message; it names the fallback by absolute path.
        const owed = /You still owe a reply on the relay[\s\S]*?\(or (\/\S+) --to alice --reply-to (msg_\w+)/.exec(call.lastUserText);
        if (owed) {
          const command = `${owed[1]} --to alice --reply-to ${owed[2]} "4"`;
          commands.push(command);
          return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command, description: 'answer alice' } }] };
        }
        return text('I think I am done.');
      },
      {},
      {},
      { sendShim: false },
    );
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    const answer = await waitFor(() => relayAnswer(r, sent.id), 'the reply on the relay', WAIT);
    expect(answer).toMatchObject({ from: 'claude-worker', to: 'alice', body: '4' });
    expect(commands[0]).toMatch(/^\/\S+\/agent-relay-send --to alice --reply-to /);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn', WAIT);
    const stops = r.hooks.filter((h) => h.path === '/hooks/stop');
    expect(stops[0]?.response).toContain('"decision":"block"');
    expect(stops.at(-1)?.status).toBe(204);
    expect(r.hooks.some((h) => h.path === '/send' && h.status === 200)).toBe(true);
    // The Bash rule for the script is allowed by default: no permission asked.
    expect(r.hooks.filter((h) => h.path === '/hooks/permission-request')).toEqual([]);
  }, E2E_TIMEOUT);

  it('interactive: the model calls mcp__relay__reply in the TUI; the reply reaches alice with replyTo', async () => {
    rig = await startClaudeRig(replyThroughMcp, { provider: createClaudeInteractiveProvider({ command: CLAUDE_BIN }) }, {}, { sendShim: false });
    const r = rig;
    await trustTui(r);
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    const answer = await waitFor(() => relayAnswer(r, sent.id), 'the reply on the relay', WAIT);
    expect(answer).toMatchObject({ from: 'claude-worker', to: 'alice', body: '4' });
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn', WAIT);
    // Once the server is connected its tools are offered as they are, not deferred behind tool search.
    // (The TUI does not wait for MCP servers: a first turn typed while the server still starts may see
    // them deferred; the model can still call them, as here.)
    expect(toolNames(r, 'queued for alice')).toContain('mcp__relay__reply');
    expect(r.relay.obligations(r.runner.agentId!)).toEqual([]);
  }, E2E_TIMEOUT);

  it('interactive: the model runs the absolute-path send script the message header names, from Bash, without a permission prompt', async () => {
    const commands: string[] = [];
    rig = await startClaudeRig(
      (call: FakeAnthropicCall) => {
        if (call.text.includes('queued for alice')) return text('Answered alice.'); // after the send's output
        const named = /\[relay message (msg_\w+) from alice · expects a reply: reply tool with message_id msg_\w+, or (\/\S+) --to alice/.exec(call.text);
        if (named) {
          const command = `${named[2]} --to alice --reply-to ${named[1]} "4"`;
          commands.push(command);
          return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command, description: 'answer alice' } }] };
        }
        return text('(unexpected)');
      },
      { provider: createClaudeInteractiveProvider({ command: CLAUDE_BIN }) },
      {},
      { sendShim: false },
    );
    const r = rig;
    await trustTui(r);
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    const answer = await waitFor(() => relayAnswer(r, sent.id), 'the reply on the relay', WAIT);
    expect(answer).toMatchObject({ from: 'claude-worker', to: 'alice', body: '4' });
    expect(commands[0]).toMatch(/^\/\S+\/agent-relay-send --to alice --reply-to /);
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn', WAIT);
    // The script's Bash rule is allowed by default in the TUI too: no permission asked.
    expect(r.hooks.filter((h) => h.path === '/hooks/permission-request')).toEqual([]);
    expect(r.relay.obligations(r.runner.agentId!)).toEqual([]);
  }, E2E_TIMEOUT);
});
