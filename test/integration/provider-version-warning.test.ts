/**
 * Version drift reaches the user: a provider CLI newer than the newest version its adapter was
 * tested with runs, and the warning shows in the runner's status (control port and relay) and the
 * log; a tested version shows none.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDemoProvider } from '../../src/providers/demo/provider.js';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('untested provider version', () => {
  it('is kept in status.providerWarning, served by GET /status, published to the relay and logged at WARN', async () => {
    rig = await startRig({ provider: createDemoProvider({ testedVersion: '0.9.0' }) });
    const r = rig;
    await r.runner.start();
    const warning = await waitFor(() => r.runner.status.providerWarning, 'the provider warning in the status');
    expect(warning).toMatch(/demo agent 1\.0\.0 is newer than the newest version agent-relay-runner was tested with \(0\.9\.0\)/);
    expect(r.runner.status.providerVersion).toBe('1.0.0');
    const served = (await r.control('GET', '/status')).json() as { providerWarning?: string };
    expect(served.providerWarning).toBe(warning);
    const agentId = r.runner.agentId!;
    await waitFor(() => r.relay.statuses(agentId).some((s) => (s.status as { providerWarning?: string }).providerWarning === warning), 'the warning at the relay');
    expect(r.logger.entries.some((e) => e.level === 'warn' && e.message === warning)).toBe(true);
  });

  it('a tested version leaves no warning', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    await waitFor(() => r.runner.status.state === 'idle', 'idle');
    expect(r.runner.status.providerWarning).toBeUndefined();
    expect(((await r.control('GET', '/status')).json() as { providerWarning?: string }).providerWarning).toBeUndefined();
  });
});
