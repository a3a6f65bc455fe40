import { describe, it } from 'vitest';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { runProviderConformance } from '../../src/testing/conformance/provider.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createEchoProvider } from '../fixtures/providers/echo-provider.js';

// docs/adding-a-provider.md, followed: a provider built on the kit passes the provider conformance suite.
runProviderConformance(
  'echo (test/fixtures/providers, built on the kit)',
  async () => ({
    adapter: createEchoProvider(),
    deps: { spawner: createChildProcessSpawner({ clock: createSystemClock() }), logger: createMemoryLogger(), clock: createSystemClock() },
    launch: { cwd: process.cwd(), env: { ...(process.env as Record<string, string>) } },
    quickTurnText: 'hello',
    slowTurnText: '[slow] take your time',
  }),
  { describe, it },
);
