/**
 * End to end: the relay's agent profile reaches the real, pinned Claude Code CLI (headless). The
 * fake Anthropic server sees the profile's model and extra instructions, the hooks report its
 * permission mode, and a tool the profile disallows is refused: the model's call comes back as an
 * error and never runs.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../helpers/rig.js';
import type { FakeAnthropicCall } from '../../src/testing/fake-anthropic-server.js';
import { ensureClis, startClaudeRig, type ClaudeRig } from './claude-helpers.js';

let rig: ClaudeRig | undefined;

beforeAll(() => {
  ensureClis();
}, 600_000);

afterEach(async () => {
  if (process.env.E2E_DEBUG && rig) console.log('LOG', rig.logger.entries.map((e) => `${e.level} ${e.component} ${e.message}`.slice(0, 400)).join('\n'));
  await rig?.close();
  rig = undefined;
}, 30_000);

const WAIT = 45_000;
const MODEL = 'claude-profile-model-7f3';
const INSTRUCTIONS = 'PROFILE-INSTRUCTIONS-7f3: answer in one line.';

interface ToolResultBlock { type?: string; tool_use_id?: string; is_error?: boolean; content?: unknown }
const toolResults = (body: unknown): ToolResultBlock[] =>
  ((body as { messages?: Array<{ role?: string; content?: unknown }> }).messages ?? [])
    .flatMap((m) => (m.role === 'user' && Array.isArray(m.content) ? (m.content as ToolResultBlock[]) : []))
    .filter((b) => b?.type === 'tool_result');

describe('Claude Code headless: the agent profile', () => {
  it('runs with the profile model, instructions and permission mode, and refuses a disallowed tool', async () => {
    rig = await startClaudeRig(
      (call: FakeAnthropicCall) => {
        if (call.lastUserText.includes('please create')) {
          return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: 'touch forbidden.txt', description: 'create a file' } }] };
        }
        return { blocks: [{ type: 'text', text: 'Could not use Bash.' }] };
      },
    );
    const r = rig;
    r.relay.setProfile('claude-worker', { model: MODEL, permissionMode: 'acceptEdits', disallowedTools: ['Bash'], extraInstructions: INSTRUCTIONS });
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'please create forbidden.txt' });
    await waitFor(() => r.relay.listMessages().find((m) => m.kind === 'session' && m.replyTo === sent.id && m.entry === 'reply'), 'the reply mirrored', WAIT);

    const calls = r.model.messageRequests().map((q) => q.body as { model?: string; system?: unknown; tools?: Array<{ name?: string }> });
    expect(calls.length).toBeGreaterThanOrEqual(2);
    // The model of every call is the profile's; its instructions are in the system prompt.
    expect(new Set(calls.map((c) => c.model))).toEqual(new Set([MODEL]));
    expect(JSON.stringify(calls[0]?.system)).toContain('PROFILE-INSTRUCTIONS-7f3');
    // The disallowed tool is not offered, and the call the model made anyway came back as an error.
    expect((calls[0]?.tools ?? []).map((t) => t.name)).not.toContain('Bash');
    const result = toolResults(calls[1]).at(-1);
    expect(result?.is_error).toBe(true);
    expect(existsSync(join(r.work, 'forbidden.txt'))).toBe(false);
    // The permission mode reached the session (every hook payload carries it).
    const prompt = r.hooks.find((h) => h.path === '/hooks/user-prompt')?.payload as { permission_mode?: string } | undefined;
    expect(prompt?.permission_mode).toBe('acceptEdits');
    // The one-line report says what was projected.
    const report = r.logger.entries.find((e) => e.component === 'profile')?.message ?? '';
    expect(report).toContain(`model ${MODEL}`);
    expect(report).toContain('disallowedTools Bash');
  }, 90_000);
});
