import { describe, expect, it } from 'vitest';
import { createCodexProvider } from '../../src/providers/codex/provider.js';
import { MAX_FOLLOW_UPS_PER_CHAIN } from '../../src/providers/codex/follow-ups.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { ProviderEvent, ProviderHost, ProviderSession } from '../../src/ports/provider.js';
import { createFakeAppServer, type FakeAppServer } from '../helpers/fake-codex-app-server.js';

const REASON = 'You still owe a reply on the relay. Answer before finishing:\n- message m-1 from alice';

/** A Codex session on the fake app-server, with a host whose Stop decision the test sets. */
async function start(options: { owed?: string[] } = {}) {
  const server = createFakeAppServer();
  const clock = createFakeClock();
  const logger = createMemoryLogger({ level: 'debug' });
  const state = { owed: options.owed ?? [], stopCalls: 0 };
  const host: ProviderHost = {
    addControlRoute: () => () => undefined,
    stopDecision: (active) => {
      state.stopCalls += 1;
      return !active && state.owed.length > 0 ? { block: true, reason: REASON, messageIds: state.owed } : { block: false };
    },
    requestPermission: async () => ({ behavior: 'deny' }),
  };
  const adapter = createCodexProvider({ command: 'codex', codexHome: '/nonexistent-codex-home' });
  const session = await adapter.start({ cwd: '/tmp', env: {} }, { spawner: server.spawner, logger, clock, host });
  const events: ProviderEvent[] = [];
  session.onEvent((e) => events.push(e));
  const deliver = async (deliveryId: string, text: string) => {
    await session.deliver({ deliveryId, text });
    clock.advance(0); // releases the events held while turn/start was in flight
    await server.settle();
  };
  const turnEvents = () => events.filter((e) => e.type === 'turn.started' || e.type === 'turn.completed');
  return { server, clock, logger, state, session, events, deliver, turnEvents };
}

async function end(server: FakeAppServer, turnId: string, options: { text?: string; status?: 'completed' | 'interrupted' | 'failed' } = {}) {
  server.completeTurn(turnId, options);
  await server.settle();
}

describe('Codex follow-up turns: the reminder', () => {
  it('a turn that ends owing a shown reply gets one reminder turn; the runner sees one turn that ends after it', async () => {
    const t = await start({ owed: ['m-1'] });
    await t.deliver('d-1', 'question from alice');
    await end(t.server, 'turn-1', { text: 'I forgot to reply' });
    // The reminder went out as a new turn on the same thread, with the Stop decision's text.
    expect(t.server.turnTexts()).toHaveLength(2);
    expect(t.server.turnTexts()[1]).toContain(REASON);
    // The runner has not been told the turn ended, and the reminder is not a new relay turn.
    expect(t.turnEvents()).toEqual([{ type: 'turn.started', turnId: 'turn-1', deliveryId: 'd-1' }]);
    t.state.owed = []; // the agent answered in the reminder turn
    await end(t.server, 'turn-2', { text: 'replied now' });
    expect(t.turnEvents()).toEqual([
      { type: 'turn.started', turnId: 'turn-1', deliveryId: 'd-1' },
      { type: 'turn.completed', turnId: 'turn-1', finalText: 'replied now' },
    ]);
    expect(t.logger.lines().some((l) => /turn turn-1 of d-1 ended; follow-up turn 1 \(reminding it of m-1\)/.test(l))).toBe(true);
  });

  it('never loops: still owing after the reminder, the chain ends (once per owed message per chain)', async () => {
    const t = await start({ owed: ['m-1'] });
    await t.deliver('d-1', 'q');
    await end(t.server, 'turn-1', { text: 'forgot' });
    await end(t.server, 'turn-2', { text: 'forgot again' });
    expect(t.server.turnTexts()).toHaveLength(2);
    expect(t.turnEvents().at(-1)).toEqual({ type: 'turn.completed', turnId: 'turn-1', finalText: 'forgot again' });
    // A new relay message starts a new chain: the still-owed message may be reminded once more there.
    await t.deliver('d-2', 'next');
    await end(t.server, 'turn-3', { text: 'x' });
    expect(t.server.turnTexts()).toHaveLength(4);
    await end(t.server, 'turn-4', { text: 'y' });
    expect(t.server.turnTexts()).toHaveLength(4);
    expect(t.turnEvents().filter((e) => e.type === 'turn.completed')).toHaveLength(2);
  });

  it('a newly owed message in the same chain is reminded too, up to the cap of follow-up turns', async () => {
    const t = await start({ owed: ['m-1'] });
    await t.deliver('d-1', 'q');
    for (let i = 1; i <= MAX_FOLLOW_UPS_PER_CHAIN; i++) {
      await end(t.server, `turn-${i}`, { text: `t${i}` });
      t.state.owed = [...t.state.owed, `m-${i + 1}`];
    }
    await end(t.server, `turn-${MAX_FOLLOW_UPS_PER_CHAIN + 1}`, { text: 'last' });
    expect(t.server.turnTexts()).toHaveLength(MAX_FOLLOW_UPS_PER_CHAIN + 1);
    expect(t.turnEvents().at(-1)).toEqual({ type: 'turn.completed', turnId: 'turn-1', finalText: 'last' });
  });

  it('owing nothing: the turn ends at once, no follow-up', async () => {
    const t = await start();
    await t.deliver('d-1', 'q');
    await end(t.server, 'turn-1', { text: 'done' });
    expect(t.server.turnTexts()).toHaveLength(1);
    expect(t.turnEvents().at(-1)).toEqual({ type: 'turn.completed', turnId: 'turn-1', finalText: 'done' });
    expect(t.state.stopCalls).toBe(1);
  });

  it('an interrupted or failed turn is not followed up', async () => {
    const t = await start({ owed: ['m-1'] });
    await t.deliver('d-1', 'q');
    await t.session.interrupt();
    await end(t.server, 'turn-1', { status: 'interrupted' });
    expect(t.server.turnTexts()).toHaveLength(1);
    expect(t.turnEvents().at(-1)).toEqual({ type: 'turn.completed', turnId: 'turn-1', interrupted: true });
    await t.deliver('d-2', 'q2');
    await end(t.server, 'turn-2', { status: 'failed' });
    expect(t.server.turnTexts()).toHaveLength(2);
    expect(t.turnEvents().at(-1)).toEqual({ type: 'turn.completed', turnId: 'turn-2', interrupted: true });
  });

  it('a message delivered during the reminder turn waits for the chain to end', async () => {
    const t = await start({ owed: ['m-1'] });
    await t.deliver('d-1', 'q');
    await end(t.server, 'turn-1', { text: 'forgot' });
    await t.deliver('d-2', 'second message');
    expect(t.server.turnTexts()).toHaveLength(2); // queued, not started
    t.state.owed = [];
    await end(t.server, 'turn-2', { text: 'replied' });
    t.clock.advance(0);
    await t.server.settle();
    expect(t.server.turnTexts()).toEqual(['q', expect.stringContaining(REASON), 'second message']);
    expect(t.turnEvents().map((e) => `${e.type}:${(e as { turnId?: string }).turnId}`)).toEqual([
      'turn.started:turn-1',
      'turn.completed:turn-1',
      'turn.started:turn-3',
    ]);
  });
});

describe('Codex follow-up turns: a denial reason reaches the model', () => {
  async function denyPatch(session: ProviderSession, events: ProviderEvent[], message?: string) {
    const asked = events.find((e): e is Extract<ProviderEvent, { type: 'permission' }> => e.type === 'permission');
    expect(asked).toMatchObject({ tool: 'apply_patch' });
    session.decidePermission(asked!.requestId, { behavior: 'deny', ...(message ? { message } : {}) });
  }

  it('a v2 file-change denial with a reason: declined on the wire, the reason in a follow-up turn', async () => {
    const t = await start();
    await t.deliver('d-1', 'write a file');
    const id = t.server.askFileChange('turn-1', '/tmp/x.txt');
    await t.server.settle();
    await denyPatch(t.session, t.events, 'not in this repo');
    await t.server.settle();
    expect(t.server.answerTo(id)?.result).toEqual({ decision: 'decline' });
    await end(t.server, 'turn-1', { text: 'could not write it' });
    expect(t.server.turnTexts()).toHaveLength(2);
    expect(t.server.turnTexts()[1]).toContain('The relay denied apply_patch: add /tmp/x.txt. Reason: not in this repo');
    await end(t.server, 'turn-2', { text: 'understood' });
    expect(t.turnEvents().at(-1)).toEqual({ type: 'turn.completed', turnId: 'turn-1', finalText: 'understood' });
  });

  it('a denial without a reason adds nothing', async () => {
    const t = await start();
    await t.deliver('d-1', 'write a file');
    t.server.askFileChange('turn-1', '/tmp/x.txt');
    await t.server.settle();
    await denyPatch(t.session, t.events);
    await end(t.server, 'turn-1', { text: 'ok' });
    expect(t.server.turnTexts()).toHaveLength(1);
  });

  it('a note and a reminder share one follow-up turn', async () => {
    const t = await start({ owed: ['m-1'] });
    await t.deliver('d-1', 'write a file');
    t.server.askFileChange('turn-1', '/tmp/x.txt');
    await t.server.settle();
    await denyPatch(t.session, t.events, 'no');
    await end(t.server, 'turn-1', { status: 'interrupted' });
    expect(t.server.turnTexts()).toHaveLength(2);
    expect(t.server.turnTexts()[1]).toMatch(/Reason: no[\s\S]*You still owe a reply/);
  });
});
