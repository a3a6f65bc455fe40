import { describe, it, expect } from 'vitest';
import { ExitPolicy } from '../../src/core/exit-policy.js';
import { StatusTracker, type AgentStatus } from '../../src/core/status.js';
import { DeliveryQueue, type DeliveryEvent } from '../../src/core/delivery.js';
import { parseWorkspaceJson, relayContextBlock, stripClaimGuidance, messageHeader } from '../../src/core/turns.js';
import { stopVerdict } from '../../src/core/obligations.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { ProviderTurn } from '../../src/ports/provider.js';

describe('provider exit policy', () => {
  it('ends quietly on an expected exit', () => {
    expect(new ExitPolicy().decide({ code: 0, signal: null }, 0, true)).toMatchObject({ action: 'none' });
  });

  it('restarts after min(10 s, max(500 ms, 500 ms × recent exits)) and gives up past the limit', () => {
    const policy = new ExitPolicy({ maxRapidExits: 5, windowMs: 60_000 });
    const delays: number[] = [];
    let t = 0;
    for (let i = 0; i < 5; i++) {
      const d = policy.decide({ code: 1, signal: null }, (t += 1000), false);
      expect(d.action).toBe('restart');
      if (d.action === 'restart') delays.push(d.delayMs);
    }
    expect(delays).toEqual([500, 1000, 1500, 2000, 2500]);
    expect(policy.decide({ code: null, signal: 'SIGKILL' }, (t += 1000), false)).toMatchObject({
      action: 'give_up',
      reason: expect.stringContaining('6 times within 60 s (last: signal SIGKILL)'),
    });
  });

  it('forgets exits outside the window and caps the delay at 10 s', () => {
    const policy = new ExitPolicy({ maxRapidExits: 100, windowMs: 1000_000 });
    let last = 0;
    for (let i = 0; i < 30; i++) {
      const d = policy.decide({ code: 1, signal: null }, i, false);
      if (d.action === 'restart') last = d.delayMs;
    }
    expect(last).toBe(10_000);
    const fresh = new ExitPolicy({ windowMs: 1000 });
    fresh.decide({ code: 1, signal: null }, 0, false);
    fresh.decide({ code: 1, signal: null }, 10, false);
    expect(fresh.decide({ code: 1, signal: null }, 5000, false)).toMatchObject({ action: 'restart', delayMs: 500 });
  });

  it('parks configured exit codes for manual recovery', () => {
    expect(new ExitPolicy().decide({ code: 78, signal: null }, 0, false)).toMatchObject({ action: 'park' });
  });
});

describe('status tracker', () => {
  function setup() {
    const clock = createFakeClock();
    const published: AgentStatus[] = [];
    const tracker = new StatusTracker(clock, 30_000, (s) => published.push(s));
    return { clock, published, tracker, states: () => published.map((s) => s.state) };
  }

  it('stays busy while subagents run after the main turn ended', () => {
    const { tracker, states } = setup();
    tracker.ready();
    tracker.turnStarted();
    tracker.subagent('start');
    tracker.subagent('start');
    tracker.turnEnded();
    expect(tracker.get()).toMatchObject({ state: 'busy', openSubagents: 2 });
    tracker.subagent('stop');
    expect(tracker.get().state).toBe('busy');
    tracker.subagent('stop');
    expect(tracker.get()).toMatchObject({ state: 'idle', openSubagents: 0 });
    expect(states()).toEqual(['idle', 'busy', 'busy', 'busy', 'busy', 'idle']);
  });

  it('marks a quiet busy agent stalled, distinct from idle, and recovers on activity', () => {
    const { tracker, clock } = setup();
    tracker.turnStarted();
    clock.advance(29_999);
    expect(tracker.get().state).toBe('busy');
    clock.advance(1);
    expect(tracker.get()).toMatchObject({ state: 'stalled', lastActivityAt: clock.now() - 30_000 });
    tracker.activity();
    expect(tracker.get().state).toBe('busy');
    tracker.turnEnded();
    clock.advance(60_000);
    expect(tracker.get().state).toBe('idle');
  });

  it('an interrupted turn ends busy; a stray subagent stop never goes negative', () => {
    const { tracker } = setup();
    tracker.turnStarted();
    tracker.turnEnded();
    tracker.subagent('stop');
    expect(tracker.get()).toMatchObject({ state: 'idle', openSubagents: 0 });
  });
});

describe('delivery queue', () => {
  function setup() {
    const clock = createFakeClock();
    const logger = createMemoryLogger();
    const events: DeliveryEvent[] = [];
    const written: ProviderTurn[] = [];
    let up = true;
    let failNext = false;
    let context: string | undefined = 'CTX';
    const queue = new DeliveryQueue({
      clock,
      logger,
      inject: () =>
        up
          ? async (turn) => {
              if (failNext) {
                failNext = false;
                throw new Error('EPIPE');
              }
              written.push(turn);
            }
          : undefined,
      takeContextBlock: () => {
        const c = context;
        context = undefined;
        return c;
      },
      onState: (e) => events.push(e),
    });
    return {
      queue,
      events,
      written,
      setUp: (v: boolean) => (up = v),
      failNext: () => (failNext = true),
      newSession: () => (context = 'CTX'),
    };
  }
  const msg = (id: string, extra: object = {}) => ({ id, from: 'alice', body: `hello ${id}`, expectsReply: false, ...extra });

  it('records queued → injected → consumed and drops duplicates', async () => {
    const t = setup();
    expect(t.queue.accept(msg('m1'))).toBe(true);
    expect(t.queue.accept(msg('m1'))).toBe(false);
    await t.queue.pump();
    const consumed = t.queue.consumed({ deliveryId: t.written[0]!.deliveryId });
    expect(consumed?.id).toBe('m1');
    expect(t.events.map((e) => e.state)).toEqual(['queued', 'injected', 'consumed']);
  });

  it('prepends the context block once and carries structured sender metadata', async () => {
    const t = setup();
    t.queue.accept(msg('m1', { expectsReply: true }));
    t.queue.accept(msg('m2'));
    await t.queue.pump();
    expect(t.written[0]!.text.startsWith('CTX\n\n[relay message m1 from alice')).toBe(true);
    expect(t.written[0]!.text).toContain('expects a reply: reply tool with message_id m1, or agent-relay-runner send --to alice --reply-to m1]');
    expect(t.written[1]!.text.startsWith('[relay message m2 from alice]')).toBe(true);
    expect(t.written[0]!.sender).toEqual({ from: 'alice', messageId: 'm1', expectsReply: true });
  });

  it('a failed injection goes back to the queue and is retried in order', async () => {
    const t = setup();
    t.queue.accept(msg('m1'));
    t.queue.accept(msg('m2'));
    t.failNext();
    await t.queue.pump();
    expect(t.written).toHaveLength(0);
    await t.queue.pump();
    expect(t.written.map((w) => w.sender?.messageId)).toEqual(['m1', 'm2']);
  });

  it('matches consumption by the header in the prompt text (UserPromptSubmit)', async () => {
    const t = setup();
    t.queue.accept(msg('m7'));
    await t.queue.pump();
    expect(t.queue.consumed({ prompt: t.written[0]!.text })?.id).toBe('m7');
    expect(t.queue.consumed({ prompt: 'typed by a human' })).toBeUndefined();
  });

  it('requeues injected but unconsumed turns when the provider dies', async () => {
    const t = setup();
    t.queue.accept(msg('m1'));
    t.queue.accept(msg('m2'));
    await t.queue.pump();
    t.setUp(false);
    t.queue.requeueInterrupted();
    t.queue.accept(msg('m3'));
    t.setUp(true);
    t.newSession();
    await t.queue.pump();
    expect(t.written.slice(2).map((w) => w.sender?.messageId)).toEqual(['m1', 'm2', 'm3']);
    expect(t.written[2]!.text.startsWith('CTX')).toBe(true);
  });

  it('each state change names the sender and the start of the message (for the monitor)', async () => {
    const t = setup();
    t.queue.accept(msg('m1', { body: 'short one' }));
    t.queue.accept(msg('m2', { body: 'x'.repeat(500) }));
    await t.queue.pump();
    const first = t.events.filter((e) => e.messageId === 'm1');
    expect(first.map((e) => [e.state, e.from, e.excerpt])).toEqual([
      ['queued', 'alice', 'short one'],
      ['injected', 'alice', 'short one'],
    ]);
    const long = t.events.find((e) => e.messageId === 'm2')!;
    expect(long.excerpt).toHaveLength(120);
    expect(long.excerpt!.endsWith('…')).toBe(true);
  });

  it('strips the relay’s claim-it-yourself guidance from task messages only', async () => {
    const t = setup();
    const body = 'Fix the build.\nClaim it yourself: run `relay task claim t1` first.\nThanks';
    t.queue.accept(msg('m1', { taskId: 't1', body }));
    t.queue.accept(msg('m2', { body }));
    await t.queue.pump();
    expect(t.written[0]!.text).not.toMatch(/claim it yourself/i);
    expect(t.written[0]!.text).toContain('Fix the build.\nThanks');
    expect(t.written[1]!.text).toMatch(/Claim it yourself/);
  });
});

describe('turn text', () => {
  it('adds workspace caveats from AGENT_RELAY_WORKSPACE_JSON', () => {
    const { workspace } = parseWorkspaceJson(
      JSON.stringify({ isolated: true, dependenciesInstalled: false, symlinks: { linked: ['.env', 'data/'] } }),
    );
    const block = relayContextBlock('worker-1', workspace);
    expect(block).toContain('isolated git worktree WITHOUT installed dependencies');
    expect(block).toContain('treat them as read-only: .env, data/');
    expect(relayContextBlock('w', undefined)).not.toContain('worktree');
  });

  it('reports bad workspace JSON instead of throwing', () => {
    expect(parseWorkspaceJson('{nope').error).toMatch(/not valid JSON/);
    expect(parseWorkspaceJson('[1]').error).toMatch(/not a JSON object/);
    expect(parseWorkspaceJson(undefined)).toEqual({});
  });

  it('names the relay tools first and the given send command as the fallback', () => {
    const block = relayContextBlock('w', undefined, "'/data dir/scratch-1/agent-relay-send'");
    expect(block).toContain('call the `reply` tool of the `relay` MCP server (in Claude Code: mcp__relay__reply)');
    expect(block).toContain(`If that tool is not available, run: '/data dir/scratch-1/agent-relay-send' --to <sender> --reply-to <message id>`);
    expect(block).not.toContain('agent-relay-runner send');
    expect(messageHeader({ id: 'm1', from: 'bob', expectsReply: true }, '/s/agent-relay-send')).toBe(
      '[relay message m1 from bob · expects a reply: reply tool with message_id m1, or /s/agent-relay-send --to bob --reply-to m1]',
    );
    const verdict = stopVerdict([{ messageId: 'm1', from: 'bob', excerpt: 'hi' }], false, '/s/agent-relay-send');
    expect(verdict.reason).toContain('- message m1 from bob: "hi" → the reply tool with message_id m1 (or /s/agent-relay-send --to bob --reply-to m1 "<answer>")');
  });

  it('formats headers and strips only guidance lines', () => {
    expect(messageHeader({ id: 'm1', from: 'bob', taskId: 't9' })).toBe('[relay message m1 from bob · task t9]');
    expect(stripClaimGuidance('a\nPlease claim this task yourself.\nb')).toBe('a\nb');
  });
});
