/**
 * The relay's agent profile on the real registration path (reference relay over HTTP, the
 * protocol schema, a real runner): the provider part reaches every provider start as
 * `ProviderLaunch.profile`, and the runner's one-line report names what the provider projects.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startRig, type Rig } from '../helpers/rig.js';
import { createDemoProvider } from '../../src/providers/demo/provider.js';
import type { ProviderAdapter, ProviderLaunch } from '../../src/ports/provider.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** The demo provider, recording each launch and projecting `model` only. */
function recordingProvider(launches: ProviderLaunch[]): ProviderAdapter {
  const demo = createDemoProvider();
  return { ...demo, name: 'recording', profileFields: ['model'], start: (launch, deps) => (launches.push(launch), demo.start(launch, deps)) };
}

describe('agent profile → provider launch', () => {
  it('hands the profile (set on the relay) to each start and reports what is projected', async () => {
    const launches: ProviderLaunch[] = [];
    rig = await startRig({ provider: recordingProvider(launches) });
    rig.relay.setProfile('worker-1', { model: 'm-1', disallowedTools: ['Bash'], features: { relayContext: true, insights: false, sessionMirror: true } });
    await rig.runner.start();
    expect(launches.map((l) => l.profile)).toEqual([{ model: 'm-1', disallowedTools: ['Bash'] }]);
    expect(rig.logger.lines().join('\n')).toContain(
      'projected: model m-1, relayContext, sessionMirror; not projected: disallowedTools Bash (the recording provider does not take it), insights (off)',
    );
    await rig.runner.restart();
    expect(launches.map((l) => l.profile)).toEqual([{ model: 'm-1', disallowedTools: ['Bash'] }, { model: 'm-1', disallowedTools: ['Bash'] }]);
  });

  it('passes no profile when the relay has no opinion', async () => {
    const launches: ProviderLaunch[] = [];
    rig = await startRig({ provider: recordingProvider(launches) });
    rig.relay.setProfile('worker-1', { model: 'dropped' });
    rig.relay.setProfile('worker-1', undefined);
    await rig.runner.start();
    expect(launches).toHaveLength(1);
    expect(launches[0]).not.toHaveProperty('profile');
  });
});
