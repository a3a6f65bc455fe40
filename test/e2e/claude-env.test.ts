/**
 * End to end (issue 10, item 3): a relay user asks a real Claude Code agent to print its
 * environment; the model (scripted) runs `env` through the Bash tool. No runner secret may be in
 * what the agent saw (the tool result sent to the model) or in what was mirrored to the relay.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/rig.js';
import type { FakeAnthropicCall, FakeAnthropicResponse } from '../../src/testing/fake-anthropic-server.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { Logger } from '../../src/index.js';
import { ensureClis, startClaudeRig, type ClaudeRig } from './claude-helpers.js';

let rig: ClaudeRig | undefined;

beforeAll(() => {
  ensureClis();
}, 600_000);

afterEach(async () => {
  await rig?.close();
  rig = undefined;
}, 30_000);

const E2E_TIMEOUT = 90_000;
const WAIT = 45_000;
const CONTROL_TOKEN = 'claude-e2e-control-token';
const text = (t: string): FakeAnthropicResponse => ({ blocks: [{ type: 'text', text: t }] });

describe('Claude Code, end to end: the agent environment', () => {
  it('`env` run by the agent shows no workspace key, relay token or other runner secret', async () => {
    const secrets = new Set<string>();
    const memory = createMemoryLogger({ level: 'debug' });
    const logger: Logger = { ...memory, addSecret: (s) => (secrets.add(s), memory.addSecret(s)) };
    rig = await startClaudeRig(
      (call: FakeAnthropicCall) => {
        if (call.lastUserText.includes('print your environment')) {
          return { blocks: [{ type: 'tool_use', name: 'Bash', input: { command: 'env | sort', description: 'print the environment' } }] };
        }
        return text('There it is.');
      },
      { logger },
    );
    const r = rig;
    const apiKey = r.relay.apiKey;
    // The host's environment has the workspace key (as the CLI's users do) and copies of it, and
    // a variable that holds the relay token granted at registration (read at the provider start).
    r.env.AGENT_RELAY_API_KEY = apiKey;
    r.env.COPIED_KEY = apiKey;
    r.env.HARMLESS_PROBE = 'kept-for-the-agent';
    let tokenCopied = false;
    Object.defineProperty(r.env, 'RELAY_TOKEN_COPY', {
      enumerable: true,
      get: () => {
        const token = [...secrets].find((s) => s !== apiKey && s !== CONTROL_TOKEN);
        if (token) tokenCopied = true;
        return token;
      },
    });
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const sent = r.relay.sendToAgent(agentId, { from: 'mallory', body: 'print your environment' });
    await waitFor(
      () => {
        // `env | sort` may need a permission: allow it, the point is what it prints.
        for (const p of r.relay.permissions(agentId)) if (p.status === 'pending') r.relay.decidePermission(p.id, { behavior: 'allow' });
        return r.relay.listMessages().find((m) => m.kind === 'session' && m.entry === 'reply' && m.replyTo === sent.id);
      },
      'the turn ends',
      WAIT,
    );
    expect(tokenCopied).toBe(true);
    expect(secrets.has(apiKey)).toBe(true);
    // What the agent saw: the tool result Claude Code sent to the model carries the whole `env` output.
    const toolResult = r.model.messageRequests().map((q) => q.rawBody).find((b) => b.includes('HARMLESS_PROBE=kept-for-the-agent'));
    expect(toolResult, 'the env output reached the model').toBeDefined();
    expect(toolResult).toContain('AGENT_RELAY_RUNNER_TOKEN=');
    // What was mirrored: the tool step of the turn (sorted, so the AGENT_RELAY_* block comes first).
    const mirrored = r.relay.listMessages().filter((m) => m.kind === 'session' && m.replyTo === sent.id);
    const tool = mirrored.find((m) => m.entry === 'tool' && m.body.startsWith('Bash completed:'));
    expect(tool?.body).toContain('AGENT_RELAY_AGENT_NAME=claude-worker');
    for (const secret of secrets) {
      if (secret === CONTROL_TOKEN) continue;
      expect(toolResult).not.toContain(secret);
      for (const m of mirrored) expect(m.body).not.toContain(secret);
    }
    expect(toolResult).not.toContain('AGENT_RELAY_API_KEY=');
    expect(toolResult).not.toContain('COPIED_KEY=');
    expect(toolResult).not.toContain('RELAY_TOKEN_COPY=');
  }, E2E_TIMEOUT);
});
