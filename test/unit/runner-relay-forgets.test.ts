import { describe, it, expect } from 'vitest';
import { coreOnFakes } from '../helpers/core-fakes.js';
import { RelayHttpError, RelayUnavailableError } from '../../src/errors/index.js';
import type { RegisterAgentResult } from '../../src/ports/relay-http.js';

/** Issue 10, item 5: the relay loses its state and forgets the agent. */
function forgetfulRelay() {
  const relay = { forgot: false, registerFails: undefined as Error | undefined, agent: 'agent-1', polls: [] as string[] };
  const registered = (now: number): RegisterAgentResult => ({
    token: `tok-${relay.agent}`, tokenExpiresAt: now + 3600_000,
    agent: { id: relay.agent, name: 'worker-1', createdAt: 0, lastSeenAt: 0 },
    profile: { features: { relayContext: true, insights: true, sessionMirror: true } },
  });
  const t = coreOnFakes({
    http: {
      register: async () => {
        if (relay.registerFails) throw relay.registerFails;
        return registered(t.clock.now());
      },
      renewToken: async () => {
        if (relay.forgot) throw new RelayHttpError(404, 'no such agent');
        return { token: 'tok-renewed', tokenExpiresAt: t.clock.now() + 3600_000 };
      },
      pollUnread: async (agentId: string) => (relay.polls.push(agentId), []),
    },
  });
  const statusFrames = () => t.sent.filter((f) => f.type === 'status').map((f) => (f.type === 'status' ? f.status.state : ''));
  return { t, relay, statusFrames };
}

describe('the relay forgets the agent (issue 10, item 5)', () => {
  it('registers again on a 404 renewal: adopts the new agent id, re-subscribes the bus, re-sends the status, catches up', async () => {
    const { t, relay, statusFrames } = forgetfulRelay();
    await t.core.start();
    relay.forgot = true;
    relay.agent = 'agent-2';
    const framesBefore = statusFrames().length;
    t.bus.push('error', { type: 'error', code: 'unauthorized', message: 'unknown bearer token' });
    await t.clock.advanceAsync(0);
    expect(t.core.agentId).toBe('agent-2');
    expect(t.core.token).toBe('tok-agent-2');
    expect(t.busAgents).toEqual(['agent-1', 'agent-2']);
    expect(statusFrames().slice(framesBefore)).toEqual(['idle']);
    expect(relay.polls.at(-1)).toBe('agent-2');
    expect(t.core.status.get().state).toBe('idle');
  });

  it('shows status error with the reason when registering again fails too, and recovers once the relay takes it', async () => {
    const { t, relay, statusFrames } = forgetfulRelay();
    await t.core.start();
    relay.forgot = true;
    relay.agent = 'agent-2';
    relay.registerFails = new RelayHttpError(401, 'workspace API key required');
    t.bus.push('error', { type: 'error', code: 'unauthorized', message: 'unknown bearer token' });
    await t.clock.advanceAsync(0);
    expect(t.core.status.get()).toMatchObject({ state: 'error', detail: expect.stringMatching(/registering again failed: .*workspace API key required/) });
    expect(statusFrames().at(-1)).toBe('error');
    relay.registerFails = undefined;
    t.bus.push('error', { type: 'error', code: 'unauthorized', message: 'unknown bearer token' });
    await t.clock.advanceAsync(0);
    expect(t.core.status.get()).toMatchObject({ state: 'idle' });
    expect(t.core.status.get().detail).toBeUndefined();
    expect(t.core.agentId).toBe('agent-2');
  });

  it('a failed start can be started again once the relay is back, and leaves no timer behind meanwhile', async () => {
    const { t, relay } = forgetfulRelay();
    relay.registerFails = new RelayUnavailableError('connection refused');
    await expect(t.core.start()).rejects.toMatchObject({ code: 'RELAY_UNAVAILABLE' });
    await t.core.abortStart();
    expect(t.clock.pendingTimers()).toBe(0);
    relay.registerFails = undefined;
    await t.core.start();
    expect(t.core.agentId).toBe('agent-1');
    expect(t.sessions).toHaveLength(1);
  });
});
