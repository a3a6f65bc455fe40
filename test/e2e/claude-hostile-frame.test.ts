/**
 * End to end (issue 10, item 4): a real Claude Code runner gets the frame that used to kill the
 * host (`message.new` without `attachments`, unchecked from the relay) and other malformed frames;
 * each is dropped with a warning, the process stays up, and the next good message is answered.
 * (The property-based fuzz, under --unhandled-rejections=strict, is test/integration/hostile-input.test.ts.)
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/rig.js';
import type { FakeAnthropicCall } from '../../src/testing/fake-anthropic-server.js';
import { ensureClis, startClaudeRig, type ClaudeRig } from './claude-helpers.js';

let rig: ClaudeRig | undefined;

beforeAll(() => {
  ensureClis();
}, 600_000);

afterEach(async () => {
  await rig?.close();
  rig = undefined;
}, 30_000);

describe('Claude Code, end to end: hostile bus frames', () => {
  it('malformed frames are dropped with a warning each; the agent still answers the next message', async () => {
    rig = await startClaudeRig((call: FakeAnthropicCall) => ({
      blocks: [{ type: 'text', text: call.lastUserText.includes('still there') ? 'Still here.' : '(unexpected)' }],
    }));
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    await waitFor(() => r.runner.connected, 'the bus connected', 30_000);
    const message = { id: 'msg_hostile', seq: 1, kind: 'message', from: 'mallory', to: 'claude-worker', body: 'x', occurredAt: 1, createdAt: 1 };
    const frames = [
      // The frame that killed the host: message.new whose message lacks fields the core reads.
      JSON.stringify({ type: 'message.new', message: { id: 'msg_hostile', body: 'x', from: 'mallory' } }),
      JSON.stringify({ type: 'message.new', message: { ...message, attachments: 'not a list' } }),
      JSON.stringify({ type: 'message.new', message: null }),
      JSON.stringify({ type: 'command', id: 'c1' }),
      JSON.stringify({ type: 'permission.decision', permissionId: 'p', requestId: 'r', behavior: 'maybe' }),
      '{"type":"message.new",',
      `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    ];
    const warned = () => r.logger.entries.filter((e) => e.level === 'warn' && e.message.startsWith('bus dropped a malformed')).length;
    for (const frame of frames) expect(r.relay.faults.rawFrame(agentId, frame)).toBeGreaterThan(0);
    await waitFor(() => warned() >= frames.length, 'a warning per dropped frame', 30_000);
    expect(warned()).toBe(frames.length);
    expect(r.deliveries.some((d) => d.messageId === 'msg_hostile')).toBe(false);

    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'still there?' });
    const reply = await waitFor(
      () => r.relay.listMessages().find((m) => m.kind === 'session' && m.entry === 'reply' && m.replyTo === sent.id),
      'the reply to the good message',
      45_000,
    );
    expect(reply.body).toBe('Still here.');
  }, 90_000);
});
