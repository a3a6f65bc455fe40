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
      relay: { profiles: { 'codex-1': { model: MODEL, permissionMode: 'read-only', extraInstructions: INSTRUCTIONS } } },
    });
    const r = rig;
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
});
