/**
 * End to end: the relay's agent profile reaches the real, pinned Codex CLI (app-server). The fake
 * OpenAI server sees the profile's model and extra instructions, and the profile's read-only
 * sandbox refuses a command that writes: the file is never created.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { waitFor } from '../helpers/rig.js';
import { ensureCodex, startCodexRig, type CodexRig } from './codex-helpers.js';
import type { FakeOpenAICall, FakeOpenAIResponse } from '../../src/testing/fake-openai-server.js';

let rig: CodexRig | undefined;
afterEach(async () => {
  if (process.env.E2E_DEBUG && rig) console.log('LOG', rig.logger.entries.map((e) => `${e.level} ${e.component} ${e.message}`.slice(0, 400)).join('\n'));
  await rig?.close();
  rig = undefined;
});

beforeAll(() => {
  ensureCodex();
}, 600_000);

const MODEL = 'gpt-profile-model-7f3';
const INSTRUCTIONS = 'PROFILE-INSTRUCTIONS-7f3: answer in one line.';

function script(call: FakeOpenAICall): FakeOpenAIResponse {
  if (!call.afterToolOutput && call.lastUserText.includes('please create')) return { output: [{ type: 'shell', command: 'touch forbidden.txt' }] };
  return { output: [{ type: 'text', text: 'Tried to create the file.' }] };
}

describe('Codex: the agent profile', () => {
  it('runs with the profile model and instructions, and its read-only sandbox refuses a write', async () => {
    rig = await startCodexRig(script, {
      // No host model: the profile's applies (an explicit host `model` would win).
      codex: { model: undefined },
      runner: { permissionTimeoutMs: 2_000 },
    });
    const r = rig;
    r.relay.setProfile('codex-1', { model: MODEL, permissionMode: 'read-only', extraInstructions: INSTRUCTIONS });
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'please create forbidden.txt' });
    await waitFor(() => r.sessionMessages().find((m) => m.entry === 'reply' && m.replyTo === sent.id), 'the reply mirrored', 60_000);

    const calls = r.model.responseRequests();
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(new Set(calls.map((q) => (q.body as { model?: string }).model))).toEqual(new Set([MODEL]));
    expect(JSON.stringify(calls[0]?.body)).toContain('PROFILE-INSTRUCTIONS-7f3');
    // The shell call ran in the read-only sandbox: no file.
    expect(existsSync(join(r.work, 'forbidden.txt'))).toBe(false);
    // The command ran inside the sandbox, which refused the write; the model was told so. (With a
    // model Codex has no metadata for, 0.169 runs commands as unified exec and reports no
    // commandExecution item, so no tool step reaches the mirror: the tool output is the evidence.)
    const output = ((calls[1]?.body as { input?: Array<{ type?: string; output?: unknown }> }).input ?? []).find((i) => i.type === 'function_call_output');
    expect(String(output?.output)).toMatch(/Read-only file system/);
    const report = r.logger.lines().join('\n');
    expect(report).toContain(`codex: profile projected as model ${MODEL}, sandbox read-only, developerInstructions`);
  }, 90_000);

  it("takes the profile's approval policy, and keeps the host's explicit model over the profile's", async () => {
    rig = await startCodexRig(script, {
      // The rig's explicit `model: 'gpt-fake'` stays: the host wins.
      runner: { permissionTimeoutMs: 30_000 },
    });
    const r = rig;
    r.relay.setProfile('codex-1', { model: MODEL, permissionMode: 'untrusted' });
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'please create forbidden.txt' });
    // `untrusted` asks before running a command that is not known safe: the request reaches the relay.
    const asked = await waitFor(() => r.relay.permissions(agentId).find((p) => p.status === 'pending'), 'a pending permission', 60_000);
    expect(asked.summary).toContain('touch forbidden.txt');
    r.relay.decidePermission(asked.id, { behavior: 'deny', message: 'not today', decidedBy: 'alice' });
    // A declined command ends the turn (0.169 offers accept/cancel only): the step is mirrored as failed.
    await waitFor(() => r.mirrors.find((m) => m.replyTo === sent.id && m.entry === 'tool' && /failed|declined/.test(m.body)), 'the declined tool step', 60_000);
    expect(existsSync(join(r.work, 'forbidden.txt'))).toBe(false);
    expect(new Set(r.model.responseRequests().map((q) => (q.body as { model?: string }).model))).toEqual(new Set(['gpt-fake']));
    expect(r.logger.lines().join('\n')).toContain("codex: profile projected as approvalPolicy \"untrusted\"; host options kept over the profile's model");
  }, 90_000);
});
