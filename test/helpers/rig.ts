import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunner, type Runner, type RunnerOptions } from '../../src/create-runner.js';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createDemoProvider } from '../../src/providers/demo/provider.js';
import { withClaudeHooks } from '../../src/providers/claude/hook-routes.js';
import type { ProviderAdapter } from '../../src/ports/provider.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import type { DeliveryEvent } from '../../src/core/delivery.js';
import type { MirrorEvent, TimelineEvent } from '../../src/core/runner.js';
import type { AgentStatus } from '../../src/core/status.js';

/** Poll `check` until it returns a truthy value or the deadline passes (then throw with `what`). */
export async function waitFor<T>(check: () => T | Promise<T>, what: string, timeoutMs = 15_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * The demo provider with the Claude Code hook routes registered as the headless Claude provider
 * does (hooks ask and observe; turns come from stdout): for tests of the hook endpoints end to end
 * through a runner without a real Claude.
 */
export function demoWithClaudeHooks(): ProviderAdapter {
  const demo = createDemoProvider();
  return {
    name: demo.name,
    capabilities: demo.capabilities,
    checkVersion: (deps) => demo.checkVersion(deps),
    start: async (launch, deps) => withClaudeHooks(await demo.start(launch, deps), deps, { hookDriven: false }),
  };
}

/** A real reference relay, a real runner with the demo provider, temp dirs; records every event. */
export interface Rig {
  relay: RelayDevServer;
  runner: Runner;
  logger: MemoryLogger;
  dir: string;
  deliveries: DeliveryEvent[];
  mirrors: MirrorEvent[];
  timeline: TimelineEvent[];
  statuses: AgentStatus[];
  /** Call the runner's control port. */
  control(method: string, path: string, body?: unknown): Promise<{ status: number; text: string; json: () => unknown }>;
  close(): Promise<void>;
}

export async function startRig(overrides: Partial<RunnerOptions> = {}, relayOptions: Parameters<typeof createRelayDevServer>[0] = {}): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'arr-rig-'));
  const relay = await createRelayDevServer(relayOptions);
  const logger = createMemoryLogger({ level: 'debug' });
  const token = 'control-token-for-tests';
  const runner = createRunner({
    name: 'worker-1',
    relayUrl: relay.url,
    apiKey: relay.apiKey,
    provider: createDemoProvider(),
    cwd: dir,
    dataDir: join(dir, 'data'),
    logger,
    env: { PATH: process.env.PATH ?? '' },
    control: { token },
    outbox: { baseDelayMs: 50, maxDelayMs: 500, pollIntervalMs: 200 },
    heartbeatMs: 200,
    ...overrides,
  });
  const rig: Rig = {
    relay,
    runner,
    logger,
    dir,
    deliveries: [],
    mirrors: [],
    timeline: [],
    statuses: [],
    async control(method, path, body) {
      const res = await fetch(`${runner.controlUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      return { status: res.status, text, json: () => JSON.parse(text) as unknown };
    },
    async close() {
      await runner.stop().catch(() => {});
      await relay.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  runner.on('delivery', (e) => rig.deliveries.push(e));
  runner.on('mirror', (e) => rig.mirrors.push(e));
  runner.on('timeline', (e) => rig.timeline.push(e));
  runner.on('status', (s) => rig.statuses.push(s));
  return rig;
}
