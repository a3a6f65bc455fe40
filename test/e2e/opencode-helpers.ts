/**
 * Shared setup of the OpenCode end-to-end tests: the pinned CLI (installed by e2e/install.sh), the
 * fake OpenAI server's Chat Completions API as its model, the reference relay, a real runner with
 * the OpenCode adapter, and an isolated state dir per test.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OPENCODE_BIN, ensureClis } from './clis.js';
import { createRunner, type Runner, type RunnerOptions } from '../../src/create-runner.js';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createOpenCodeProvider, type OpenCodeProviderOptions } from '../../src/providers/opencode/provider.js';
import { createFakeOpenAIServer, type FakeOpenAICall, type FakeOpenAIScript, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import type { DeliveryEvent } from '../../src/core/delivery.js';
import type { MirrorEvent, TimelineEvent } from '../../src/core/runner.js';

export { OPENCODE_BIN, OPENCODE_VERSION, REPO_ROOT } from './clis.js';
export const FAKE_KEY_ENV = 'FAKE_OPENAI_API_KEY';

/** Make sure the CLIs under test exist (see clis.ts); returns their version lines. */
export const ensureOpenCode = ensureClis;

/**
 * OpenCode asks its small model for a session title before the first answer: a call that offers
 * no tools. Scripts answer it with this and route the real turns on the rest.
 */
export const isTitleCall = (call: FakeOpenAICall): boolean => call.toolNames.length === 0;

/** OpenCode options that point it at a fake OpenAI server, with its state under `stateDir`. */
export function openCodeOptionsFor(model: FakeOpenAIServer, stateDir: string, extra: OpenCodeProviderOptions = {}): OpenCodeProviderOptions {
  return {
    command: OPENCODE_BIN,
    stateDir,
    modelProvider: { id: 'fake', baseUrl: model.baseUrl, models: ['fake-model'], apiKeyEnv: FAKE_KEY_ENV },
    env: { [FAKE_KEY_ENV]: 'sk-fake-not-a-secret', OPENCODE_DISABLE_MODELS_FETCH: '1' },
    ...extra,
  };
}

export interface OpenCodeRig {
  relay: RelayDevServer;
  model: FakeOpenAIServer;
  runner: Runner;
  logger: MemoryLogger;
  dir: string;
  work: string;
  stateDir: string;
  deliveries: DeliveryEvent[];
  mirrors: MirrorEvent[];
  timeline: TimelineEvent[];
  /** Session-kind messages at the relay. */
  sessionMessages(): ReturnType<RelayDevServer['listMessages']>;
  close(): Promise<void>;
}

/** A relay, a fake model, and a runner driving the real `opencode acp`. */
export async function startOpenCodeRig(
  script: FakeOpenAIScript,
  options: { opencode?: OpenCodeProviderOptions; runner?: Partial<RunnerOptions> } = {},
): Promise<OpenCodeRig> {
  const dir = await mkdtemp(join(tmpdir(), 'arr-opencode-'));
  const work = join(dir, 'work');
  const stateDir = join(dir, 'opencode-state');
  await mkdir(work, { recursive: true });
  const model = await createFakeOpenAIServer(script);
  const relay = await createRelayDevServer();
  const logger = createMemoryLogger({ level: 'debug' });
  const runner = createRunner({
    name: 'opencode-1',
    relayUrl: relay.url,
    apiKey: relay.apiKey,
    provider: createOpenCodeProvider(openCodeOptionsFor(model, stateDir, options.opencode)),
    cwd: work,
    dataDir: join(dir, 'data'),
    logger,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    control: { token: 'control-token-for-opencode-tests' },
    outbox: { baseDelayMs: 50, maxDelayMs: 500, pollIntervalMs: 200 },
    heartbeatMs: 200,
    ...options.runner,
  });
  const rig: OpenCodeRig = {
    relay,
    model,
    runner,
    logger,
    dir,
    work,
    stateDir,
    deliveries: [],
    mirrors: [],
    timeline: [],
    sessionMessages: () => relay.listMessages().filter((m) => m.kind === 'session'),
    async close() {
      await runner.stop().catch(() => {});
      await relay.close().catch(() => {});
      await model.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  runner.on('delivery', (e) => rig.deliveries.push(e));
  runner.on('mirror', (e) => rig.mirrors.push(e));
  runner.on('timeline', (e) => rig.timeline.push(e));
  return rig;
}
