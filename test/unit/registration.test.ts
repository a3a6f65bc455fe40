import { describe, it, expect } from 'vitest';
import { Registration, type RegistrationDeps } from '../../src/core/registration.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { RelayHttpError, RelayUnavailableError } from '../../src/errors/index.js';
import type { RegisterAgentResult, TokenGrant } from '../../src/ports/relay-http.js';

const HOUR = 3600_000;

function setup(overrides: Partial<RegistrationDeps['http']> = {}) {
  const clock = createFakeClock();
  const logger = createMemoryLogger({ level: 'debug' });
  const calls: string[] = [];
  const renewed: string[] = [];
  const reregistered: string[] = [];
  const troubles: Array<string | undefined> = [];
  let n = 0;
  let busUp = false;
  const grant = (): TokenGrant => ({ token: `tok-${++n}`, tokenExpiresAt: clock.now() + HOUR });
  const http: RegistrationDeps['http'] = {
    async register(input) {
      calls.push(`register ${input.name}`);
      const result: RegisterAgentResult = {
        ...grant(),
        agent: { id: 'agent-1', name: input.name, createdAt: 0, lastSeenAt: 0 },
        profile: { features: { relayContext: true, insights: true, sessionMirror: false }, model: 'opus' },
      };
      return result;
    },
    async renewToken(agentId) {
      calls.push(`renew ${agentId}`);
      return grant();
    },
    async heartbeat(agentId) {
      calls.push(`heartbeat ${agentId}`);
      return { serverTime: clock.now() };
    },
    ...overrides,
  };
  const registration = new Registration({
    http,
    clock,
    logger,
    identity: { name: 'worker-1', provider: 'demo', runnerVersion: '0.1.0' },
    heartbeatMs: 30_000,
    busConnected: () => busUp,
    onRenewed: (token) => renewed.push(token),
    onReregistered: (registered) => reregistered.push(registered.agent.id),
    onTrouble: (reason) => troubles.push(reason),
  });
  return { clock, logger, calls, renewed, reregistered, troubles, registration, setBus: (up: boolean) => (busUp = up) };
}

describe('registration and token lifecycle', () => {
  it('registers, owns the token (redacted from logs) and logs what the profile projects', async () => {
    const t = setup();
    expect(t.registration.token).toBeUndefined();
    await t.registration.register();
    expect(t.registration).toMatchObject({ token: 'tok-1', agentId: 'agent-1' });
    expect(t.registration.profile?.model).toBe('opus');
    t.logger.info('test', 'token is tok-1');
    const lines = t.logger.lines().join('\n');
    expect(lines).toContain('registered as worker-1 (agent-1)');
    expect(lines).toContain('not projected: model opus (the demo provider does not take it), sessionMirror (off)');
    expect(lines).not.toContain('tok-1');
  });

  it('renews at 80 % of the token lifetime and hands the fresh token to the bus', async () => {
    const t = setup();
    t.setBus(true);
    await t.registration.register();
    await t.clock.advanceAsync(0.8 * HOUR - 1);
    expect(t.calls).toEqual(['register worker-1']);
    await t.clock.advanceAsync(1);
    expect(t.calls).toEqual(['register worker-1', 'renew agent-1']);
    expect(t.registration.token).toBe('tok-2');
    expect(t.renewed).toEqual(['tok-2']);
    // The next renewal is scheduled from the fresh grant.
    await t.clock.advanceAsync(0.8 * HOUR);
    expect(t.renewed).toEqual(['tok-2', 'tok-3']);
  });

  it('shares one recovery between concurrent 401s and retries each call once', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = setup({
      async renewToken() {
        t.calls.push('renew');
        await gate;
        return { token: 'fresh', tokenExpiresAt: t.clock.now() + HOUR };
      },
    });
    await t.registration.register();
    const tokensSeen: string[] = [];
    const call = async () => {
      tokensSeen.push(t.registration.token ?? '');
      if (t.registration.token !== 'fresh') throw new RelayHttpError(401, 'unauthorized');
      return 'ok';
    };
    const both = Promise.all([t.registration.withAuth(call), t.registration.withAuth(call)]);
    await Promise.resolve();
    release();
    expect(await both).toEqual(['ok', 'ok']);
    expect(t.calls.filter((c) => c === 'renew')).toHaveLength(1);
    expect(t.renewed).toEqual(['fresh']);
  });

  it('registers again when the renewal is refused, and keeps other failures as they are', async () => {
    const t = setup({
      async renewToken() {
        throw new RelayHttpError(403, 'forbidden');
      },
    });
    await t.registration.register();
    await t.registration.recover();
    expect(t.calls).toEqual(['register worker-1', 'register worker-1']);
    expect(t.registration.token).toBe('tok-2');
    expect(t.logger.lines().some((l) => l.includes('token renewal refused; registering again'))).toBe(true);

    const down = setup({
      async renewToken() {
        throw new RelayUnavailableError('connection refused');
      },
    });
    await down.registration.register();
    await expect(down.registration.recover()).rejects.toMatchObject({ code: 'RELAY_UNAVAILABLE' });
    await expect(down.registration.withAuth(async () => Promise.reject(new RelayHttpError(500, 'boom')))).rejects.toMatchObject({ status: 500 });
  });

  it('an auth failure is recognised by its code, not by the HTTP error class', async () => {
    const t = setup();
    await t.registration.register();
    const coded = Object.assign(new Error('refused'), { code: 'RELAY_AUTH', data: {} });
    let attempts = 0;
    const result = await t.registration.withAuth(async () => {
      if (attempts++ === 0) throw coded;
      return 'retried';
    });
    expect(result).toBe('retried');
    expect(t.calls).toContain('renew agent-1');
  });

  it('sends heartbeats only while the bus is down, and stop() ends every timer', async () => {
    const t = setup();
    await t.registration.register();
    await t.clock.advanceAsync(30_000);
    expect(t.calls.filter((c) => c.startsWith('heartbeat'))).toHaveLength(1);
    t.setBus(true);
    await t.clock.advanceAsync(60_000);
    expect(t.calls.filter((c) => c.startsWith('heartbeat'))).toHaveLength(1);
    t.registration.stop();
    expect(t.clock.pendingTimers()).toBe(0);
  });

  it('registers again when the relay no longer knows the agent (404 on renewal), adopting the new agent id', async () => {
    let relayForgot = false;
    const t = setup({
      async renewToken(agentId) {
        t.calls.push(`renew ${agentId}`);
        if (relayForgot) throw new RelayHttpError(404, 'no such agent');
        return { token: 'tok-renewed', tokenExpiresAt: t.clock.now() + HOUR };
      },
      async register(input) {
        t.calls.push(`register ${input.name}`);
        return {
          token: relayForgot ? 'tok-new-agent' : 'tok-1', tokenExpiresAt: t.clock.now() + HOUR,
          agent: { id: relayForgot ? 'agent-2' : 'agent-1', name: input.name, createdAt: 0, lastSeenAt: 0 },
          profile: { features: { relayContext: true, insights: true, sessionMirror: true } },
        };
      },
    });
    await t.registration.register();
    relayForgot = true;
    await t.registration.recover();
    expect(t.calls).toEqual(['register worker-1', 'renew agent-1', 'register worker-1']);
    expect({ agentId: t.registration.agentId, token: t.registration.token }).toEqual({ agentId: 'agent-2', token: 'tok-new-agent' });
    expect(t.reregistered).toEqual(['agent-2']);
    expect(t.renewed).toEqual([]); // the link follows the new id instead (onReregistered)
    expect(t.troubles.at(-1)).toBeUndefined();
  });

  it('reports the trouble when registering again fails too, and clears it once a recovery works', async () => {
    let registerFails = false;
    let forgot = false;
    const t = setup({
      async renewToken() {
        if (forgot) throw new RelayHttpError(404, 'no such agent');
        return { token: 'tok-renewed', tokenExpiresAt: t.clock.now() + HOUR };
      },
      async register(input) {
        if (registerFails) throw new RelayHttpError(401, 'workspace API key required');
        return {
          token: 'tok-x', tokenExpiresAt: t.clock.now() + HOUR,
          agent: { id: forgot ? 'agent-2' : 'agent-1', name: input.name, createdAt: 0, lastSeenAt: 0 },
          profile: { features: { relayContext: true, insights: true, sessionMirror: true } },
        };
      },
    });
    await t.registration.register();
    forgot = true;
    registerFails = true;
    await expect(t.registration.recover()).rejects.toMatchObject({ code: 'RELAY_AUTH' });
    expect(t.troubles.at(-1)).toMatch(/no longer accepts agent agent-1 and registering again failed: .*workspace API key required/);
    registerFails = false;
    await t.registration.recover();
    expect(t.troubles.at(-1)).toBeUndefined();
    expect(t.registration.agentId).toBe('agent-2');
  });
});
