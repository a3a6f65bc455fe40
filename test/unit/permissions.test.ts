import { describe, it, expect } from 'vitest';
import { PermissionRelay, type PendingPermission, type RelayedPermissionOutcome } from '../../src/core/permissions.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { RelayPermissionRequest, RelayPermissionRequestInput } from '../../src/ports/relay-http.js';
import type { PermissionDecision } from '../../src/ports/provider.js';

function setup(options: { interactive?: boolean; registered?: boolean; create?: (body: RelayPermissionRequestInput) => Promise<RelayPermissionRequest> } = {}) {
  const clock = createFakeClock();
  const logger = createMemoryLogger();
  const raised: RelayPermissionRequestInput[] = [];
  const pending = (body: RelayPermissionRequestInput): RelayPermissionRequest => ({
    id: `perm_${body.requestId}`,
    requestId: body.requestId,
    agentId: 'agent-1',
    tool: body.tool,
    summary: body.summary,
    status: 'pending',
    createdAt: clock.now(),
  });
  const lists: PendingPermission[][] = [];
  const relay = new PermissionRelay({
    clock,
    logger,
    onPending: (list) => lists.push(list),
    timeoutMs: 60_000,
    interactive: options.interactive ?? false,
    auth: { agentId: options.registered === false ? undefined : 'agent-1', withAuth: (call) => call() },
    http: {
      createPermissionRequest: async (_agentId, body) => {
        raised.push(body);
        return options.create ? options.create(body) : pending(body);
      },
    },
  });
  const settled: RelayedPermissionOutcome[] = [];
  const ask = (requestId: string) => {
    void relay.request({ requestId, tool: 'Bash', summary: 'rm -rf build' }).then((o) => settled.push(o));
  };
  return { clock, logger, relay, raised, settled, ask, lists };
}

describe('permission relay', () => {
  it('raises the request on the relay and applies the decision that comes back', async () => {
    const t = setup();
    t.ask('r1');
    await t.clock.advanceAsync(0);
    expect(t.raised).toEqual([{ requestId: 'r1', tool: 'Bash', summary: 'rm -rf build' }]);
    expect(t.relay.decide('r1', { behavior: 'deny', message: 'not today' })).toBe(true);
    await t.clock.advanceAsync(0);
    expect(t.settled).toEqual([{ behavior: 'deny', message: 'not today' }]);
  });

  it('times out with a deny that names the wait, and ignores the late decision', async () => {
    const t = setup();
    t.ask('r1');
    await t.clock.advanceAsync(59_999);
    expect(t.settled).toEqual([]);
    await t.clock.advanceAsync(1);
    expect(t.settled).toEqual([{ behavior: 'deny', message: 'no permission decision from the relay within 60 s' }]);
    expect(t.relay.decide('r1', { behavior: 'allow' })).toBe(false);
    await t.clock.advanceAsync(0);
    expect(t.settled).toHaveLength(1);
    expect(t.logger.lines().some((l) => l.includes('ignored a decision for r1: no request is waiting'))).toBe(true);
  });

  it('an interactive provider falls back to its own dialog on timeout', async () => {
    const t = setup({ interactive: true });
    t.ask('r1');
    await t.clock.advanceAsync(60_000);
    expect(t.settled).toEqual([{ behavior: 'ask', message: 'no decision from the relay in time; asking locally' }]);
  });

  it('a decision already on the created request applies at once', async () => {
    const t = setup({
      create: async (body) => ({
        id: 'perm_1', requestId: body.requestId, agentId: 'agent-1', tool: body.tool, summary: body.summary, status: 'decided', createdAt: 0,
        decision: { behavior: 'allow', decidedBy: 'alice', decidedAt: 0 },
      }),
    });
    t.ask('r1');
    await t.clock.advanceAsync(0);
    expect(t.settled).toEqual([{ behavior: 'allow' }]);
    expect(t.clock.pendingTimers()).toBe(0);
  });

  it('falls back at once when the relay cannot take the request, or the agent is not registered', async () => {
    const t = setup({ create: () => Promise.reject(new Error('connection refused')) });
    t.ask('r1');
    await t.clock.advanceAsync(0);
    expect(t.settled).toEqual([{ behavior: 'deny', message: 'no permission decision from the relay within 60 s' }]);
    const unregistered = setup({ registered: false });
    unregistered.ask('r2');
    await unregistered.clock.advanceAsync(0);
    expect(unregistered.raised).toEqual([]);
    expect(unregistered.settled).toHaveLength(1);
  });

  it('denies the requests of a turn that settled, but not those raised outside a turn', async () => {
    const t = setup();
    t.ask('outside');
    t.relay.turnStarted();
    t.ask('inside');
    await t.clock.advanceAsync(0);
    t.relay.turnEnded();
    await t.clock.advanceAsync(0);
    expect(t.settled).toEqual([{ behavior: 'deny', message: 'the turn ended before a decision arrived' }]);
    expect(t.relay.decide('inside', { behavior: 'allow' })).toBe(false);
    expect(t.relay.decide('outside', { behavior: 'allow' })).toBe(true);
  });

  it('stop() denies everything waiting and refuses new requests without asking the relay', async () => {
    const t = setup();
    t.ask('r1');
    await t.clock.advanceAsync(0);
    t.relay.stop();
    await t.clock.advanceAsync(0);
    expect(t.settled).toEqual([{ behavior: 'deny', message: 'the runner is stopping' }]);
    t.ask('r2');
    await t.clock.advanceAsync(0);
    expect(t.raised.map((r) => r.requestId)).toEqual(['r1']);
    expect(t.clock.pendingTimers()).toBe(0);
  });

  it('hands a structured provider the outcome, and never an "ask"', async () => {
    const decided: Array<[string, PermissionDecision]> = [];
    const session = { decidePermission: (id: string, d: PermissionDecision) => decided.push([id, d]) };
    const t = setup();
    t.relay.answerProvider({ requestId: 'r1', tool: 'Bash', summary: 'ls' }, () => session);
    await t.clock.advanceAsync(0);
    t.relay.decide('r1', { behavior: 'allow' });
    await t.clock.advanceAsync(0);
    expect(decided).toEqual([['r1', { behavior: 'allow' }]]);
    const interactive = setup({ interactive: true });
    interactive.relay.answerProvider({ requestId: 'r2', tool: 'Bash', summary: 'ls' }, () => session);
    await interactive.clock.advanceAsync(60_000);
    expect(decided).toHaveLength(1);
  });

  it('numbers requests that come without an id', async () => {
    const t = setup();
    void t.relay.request({ tool: 'Edit', summary: 'a.ts' });
    void t.relay.request({ tool: 'Edit', summary: 'b.ts' });
    await t.clock.advanceAsync(0);
    expect(t.raised.map((r) => r.requestId)).toEqual(['perm-1', 'perm-2']);
  });

  it('lists the requests still waiting, and reports each change (raised, decided, timed out, turn ended)', async () => {
    const t = setup();
    const start = t.clock.now();
    t.relay.turnStarted();
    t.ask('r1');
    await t.clock.advanceAsync(1_000);
    t.ask('r2');
    await t.clock.advanceAsync(0);
    expect(t.relay.pending()).toEqual([
      { requestId: 'r1', tool: 'Bash', summary: 'rm -rf build', since: start, deadline: start + 60_000 },
      { requestId: 'r2', tool: 'Bash', summary: 'rm -rf build', since: start + 1_000, deadline: start + 61_000 },
    ]);
    t.relay.decide('r1', { behavior: 'allow' });
    expect(t.relay.pending().map((p) => p.requestId)).toEqual(['r2']);
    t.relay.turnEnded();
    expect(t.relay.pending()).toEqual([]);
    expect(t.lists.map((list) => list.map((p) => p.requestId))).toEqual([['r1'], ['r1', 'r2'], ['r2'], []]);
    t.ask('r3');
    await t.clock.advanceAsync(60_000);
    expect(t.lists.slice(-2).map((list) => list.map((p) => p.requestId))).toEqual([['r3'], []]);
  });
});
