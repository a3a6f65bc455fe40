/**
 * Codex's file-change (`apply_patch`) approval path through the runner's permission relay, on the
 * default approval policy (`on-request`) and sandbox (`workspace-write`), with the real CLI.
 *
 * With those defaults Codex asks before a patch only outside its writable roots (the workspace,
 * `/tmp` and `$TMPDIR`); the test's directories all live under the temp dir, so `/tmp` and
 * `$TMPDIR` are taken out of the writable roots and the patch targets a file next to the
 * workspace. The fake model is `gpt-5.5`: Codex 0.169 offers that model `apply_patch` as a
 * freeform (custom) tool, and the fallback metadata of an unknown model offers none. The target's
 * directory exists: an approved patch outside the writable roots may write the file but not create
 * its parent directories ("Failed to create parent directories", seen with 0.169.0).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../helpers/rig.js';
import { ensureCodex, startCodexRig, type CodexRig } from './codex-helpers.js';
import type { FakeOpenAICall, FakeOpenAIResponse } from '../../src/testing/fake-openai-server.js';

let rig: CodexRig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

beforeAll(() => {
  ensureCodex();
}, 600_000);

const CODEX_CONFIG = {
  'model_providers.fake.request_max_retries': '0',
  'model_providers.fake.stream_max_retries': '0',
  'sandbox_workspace_write.exclude_slash_tmp': 'true',
  'sandbox_workspace_write.exclude_tmpdir_env_var': 'true',
};

/** The patch target, outside the workspace: `<dir>/outside/<name>` (the rig's dir holds the workspace `work/`). */
const target = (r: CodexRig, name: string) => join(r.dir, 'outside', name);

/** Writes `[patch:<path>]` with apply_patch; tells what the tool said; answers a note with its text. */
function script(call: FakeOpenAICall): FakeOpenAIResponse {
  const patch = /\[patch:([^\]]+)\]/.exec(call.lastUserText);
  if (call.afterToolOutput) {
    const said = JSON.stringify(call.body.input?.at(-1) ?? {});
    return { output: [{ type: 'text', text: said.includes('Success') ? 'patched' : `patch failed: ${said.slice(0, 200)}` }] };
  }
  if (patch) {
    return { output: [{ type: 'custom_tool_call', name: 'apply_patch', input: `*** Begin Patch\n*** Add File: ${patch[1]}\n+written by codex\n*** End Patch\n` }] };
  }
  return { output: [{ type: 'text', text: `noted: ${call.lastUserText.trim().split('\n').at(-1) ?? ''}` }] };
}

async function rigWithPatch(): Promise<CodexRig> {
  const r = await startCodexRig(script, { codex: { model: 'gpt-5.5', config: CODEX_CONFIG } });
  await mkdir(join(r.dir, 'outside'));
  await r.runner.start();
  return r;
}

describe('Codex apply_patch approvals through the relay (real CLI, default policy and sandbox)', () => {
  it('allowed at the relay: the file is written and the step mirrored', async () => {
    rig = await rigWithPatch();
    const r = rig;
    const agentId = r.runner.agentId!;
    const file = target(r, 'allowed.txt');
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: `write it [patch:${file}]` });
    const asked = await waitFor(() => r.relay.permissions(agentId).find((p) => p.status === 'pending'), 'a pending permission', 60_000);
    expect(asked).toMatchObject({ tool: 'apply_patch' });
    expect(asked.summary).toContain(`add ${file}`);
    expect(existsSync(file)).toBe(false);
    r.relay.decidePermission(asked.id, { behavior: 'allow', decidedBy: 'alice' });
    const reply = await waitFor(() => r.sessionMessages().find((m) => m.entry === 'reply' && m.replyTo === sent.id), 'the reply', 60_000);
    expect(reply.body).toBe('patched');
    expect(readFileSync(file, 'utf8')).toBe('written by codex\n');
    const steps = r.sessionMessages().filter((m) => m.replyTo === sent.id && m.entry === 'tool').map((m) => m.body);
    expect(steps).toEqual([`apply_patch started: add ${file}`, `apply_patch completed: add ${file}`]);
  }, 120_000);

  it('denied at the relay with a reason: nothing written, the step declined, and the reason reaches the model in a follow-up note', async () => {
    rig = await rigWithPatch();
    const r = rig;
    const agentId = r.runner.agentId!;
    const file = target(r, 'denied.txt');
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: `write it [patch:${file}]` });
    const asked = await waitFor(() => r.relay.permissions(agentId).find((p) => p.status === 'pending'), 'a pending permission', 60_000);
    r.relay.decidePermission(asked.id, { behavior: 'deny', message: 'not outside the repo', decidedBy: 'alice' });
    await waitFor(() => r.runner.status.state === 'idle' && r.sessionMessages().some((m) => m.replyTo === sent.id && m.entry === 'reply'), 'the chain over', 60_000);
    expect(existsSync(file)).toBe(false);
    const steps = r.sessionMessages().filter((m) => m.replyTo === sent.id && m.entry === 'tool').map((m) => m.body);
    expect(steps).toEqual([`apply_patch started: add ${file}`, `apply_patch failed: add ${file} (declined)`]);
    // Codex tells the model only "patch rejected by user"; the relay's reason follows as a note.
    const inputs = r.model.responseRequests().map((q) => JSON.stringify((q.body as { input?: unknown[] }).input?.at(-1)));
    expect(inputs.some((i) => i.includes('patch rejected by user'))).toBe(true);
    const note = inputs.find((i) => i.includes('Note from agent-relay-runner'));
    expect(note).toContain(`The relay denied apply_patch: add ${file}. Reason: not outside the repo`);
    const reply = r.sessionMessages().find((m) => m.replyTo === sent.id && m.entry === 'reply')!;
    expect(reply.body).toMatch(/^noted: .*Reason: not outside the repo/);
  }, 120_000);
});
