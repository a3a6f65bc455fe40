/**
 * End to end: the relay's agent profile reaches the real, pinned OpenCode CLI (`opencode acp`).
 * The fake OpenAI server sees the profile's model on every chat request and its instructions in
 * the system prompt, and a `bash` call the profile disallows is refused: the file is never created
 * and no permission is asked for (the default rules would have asked).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../helpers/rig.js';
import { ensureOpenCode, isTitleCall, startOpenCodeRig, type OpenCodeRig } from './opencode-helpers.js';
import type { FakeOpenAICall, FakeOpenAIResponse } from '../../src/testing/fake-openai-server.js';

let rig: OpenCodeRig | undefined;
afterEach(async () => {
  if (process.env.E2E_DEBUG && rig) console.log('LOG', rig.logger.entries.map((e) => `${e.level} ${e.component} ${e.message}`.slice(0, 400)).join('\n'));
  await rig?.close();
  rig = undefined;
});

beforeAll(() => {
  ensureOpenCode();
}, 600_000);

const MODEL = 'profile-model-7f3';
const INSTRUCTIONS = 'PROFILE-INSTRUCTIONS-7f3: answer in one line.';
const WAIT = 90_000;

function script(call: FakeOpenAICall): FakeOpenAIResponse {
  if (isTitleCall(call)) return { output: [{ type: 'text', text: 'A title' }] };
  if (!call.afterToolOutput && call.lastUserText.includes('please create')) return { output: [{ type: 'shell', command: 'touch forbidden.txt' }] };
  return { output: [{ type: 'text', text: 'Tried to create the file.' }] };
}

describe('OpenCode: the agent profile', () => {
  it('runs with the profile model and instructions, and refuses the bash tool the profile disallows', async () => {
    // The rig's host options name no model: the profile's applies to the model provider `fake`.
    rig = await startOpenCodeRig(script, { runner: { permissionTimeoutMs: 30_000 } });
    const r = rig;
    r.relay.setProfile('opencode-1', { model: MODEL, disallowedTools: ['Bash'], extraInstructions: INSTRUCTIONS });
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please create forbidden.txt' });
    await waitFor(() => r.sessionMessages().find((m) => m.entry === 'reply' && m.replyTo === sent.id), 'the reply mirrored', WAIT);

    const calls = r.model.chatRequests();
    expect(calls.length).toBeGreaterThanOrEqual(2);
    // Every call, the title included (small_model follows the model), carries the profile's model.
    expect(new Set(calls.map((q) => (q.body as { model?: string }).model))).toEqual(new Set([MODEL]));
    const toolNames = (q: (typeof calls)[number]) => ((q.body as { tools?: Array<{ function?: { name?: string } }> }).tools ?? []).map((t) => t.function?.name);
    const turnCalls = calls.filter((q) => toolNames(q).length > 0);
    expect(turnCalls.length).toBeGreaterThanOrEqual(2);
    expect(turnCalls[0]!.rawBody).toContain('PROFILE-INSTRUCTIONS-7f3');
    // A tool denied as a whole is not offered (the default rules offer bash and ask for each command)…
    expect(toolNames(turnCalls[0]!)).toContain('read');
    expect(toolNames(turnCalls[0]!)).not.toContain('bash');
    // …and the call the model makes anyway is refused: never asked for, never run, mirrored as failed.
    expect(turnCalls[1]!.rawBody).toContain("unavailable tool 'bash'");
    expect(existsSync(join(r.work, 'forbidden.txt'))).toBe(false);
    expect(r.relay.permissions(agentId)).toHaveLength(0);
    expect(r.mirrors.filter((m) => m.replyTo === sent.id && m.entry === 'tool').map((m) => m.body.split(':')[0])).toEqual(['bash started', 'bash failed']);
    expect(r.logger.lines().join('\n')).toContain(`opencode: profile projected as model fake/${MODEL}, permission {`);
  }, 180_000);
});
