/**
 * Shared setup of the Codex end-to-end tests: the pinned CLI (installed by e2e/install.sh), a fake
 * OpenAI Responses server, the reference relay, a real runner with the Codex adapter, and an
 * isolated CODEX_HOME per test.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CODEX_BIN, ensureClis } from './clis.js';
import { createRunner, type Runner, type RunnerOptions } from '../../src/create-runner.js';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createCodexProvider, type CodexProviderOptions } from '../../src/providers/codex/provider.js';
import { createFakeOpenAIServer, type FakeOpenAIScript, type FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import type { DeliveryEvent } from '../../src/core/delivery.js';
import type { MirrorEvent, TimelineEvent } from '../../src/core/runner.js';

export { CODEX_BIN, CODEX_VERSION, REPO_ROOT } from './clis.js';
export const FAKE_KEY_ENV = 'FAKE_OPENAI_API_KEY';

/** Make sure the CLIs under test exist (see clis.ts); returns their version lines. */
export const ensureCodex = ensureClis;

/** Codex options that point it at a fake OpenAI server, in an isolated CODEX_HOME. */
export function codexOptionsFor(model: FakeOpenAIServer, codexHome: string, extra: CodexProviderOptions = {}): CodexProviderOptions {
  return {
    command: CODEX_BIN,
    codexHome,
    model: 'gpt-fake',
    modelProvider: { id: 'fake', baseUrl: model.baseUrl, envKey: FAKE_KEY_ENV },
    // Fail fast on scripted errors instead of Codex's retry backoff.
    config: { 'model_providers.fake.request_max_retries': '0', 'model_providers.fake.stream_max_retries': '0' },
    env: { [FAKE_KEY_ENV]: 'sk-fake-not-a-secret' },
    ...extra,
  };
}

export interface CodexRig {
  relay: RelayDevServer;
  model: FakeOpenAIServer;
  runner: Runner;
  logger: MemoryLogger;
  dir: string;
  work: string;
  codexHome: string;
  deliveries: DeliveryEvent[];
  mirrors: MirrorEvent[];
  timeline: TimelineEvent[];
  /** Session-kind messages at the relay. */
  sessionMessages(): ReturnType<RelayDevServer['listMessages']>;
  close(): Promise<void>;
}

/** A relay, a fake model, and a runner driving the real `codex app-server`. */
export async function startCodexRig(
  script: FakeOpenAIScript,
  options: { codex?: CodexProviderOptions; runner?: Partial<RunnerOptions> } = {},
): Promise<CodexRig> {
  const dir = await mkdtemp(join(tmpdir(), 'arr-codex-'));
  const work = join(dir, 'work');
  const codexHome = join(dir, 'codex-home');
  await mkdir(work, { recursive: true });
  await mkdir(codexHome, { recursive: true, mode: 0o700 });
  const model = await createFakeOpenAIServer(script);
  const relay = await createRelayDevServer();
  const logger = createMemoryLogger({ level: 'debug' });
  const runner = createRunner({
    name: 'codex-1',
    relayUrl: relay.url,
    apiKey: relay.apiKey,
    provider: createCodexProvider(codexOptionsFor(model, codexHome, options.codex)),
    cwd: work,
    dataDir: join(dir, 'data'),
    logger,
    env: { PATH: process.env.PATH ?? '', HOME: dir },
    control: { token: 'control-token-for-codex-tests' },
    outbox: { baseDelayMs: 50, maxDelayMs: 500, pollIntervalMs: 200 },
    heartbeatMs: 200,
    ...options.runner,
  });
  const rig: CodexRig = {
    relay,
    model,
    runner,
    logger,
    dir,
    work,
    codexHome,
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
