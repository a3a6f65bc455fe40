/**
 * Round trip through the real, pinned OpenCode CLI (`opencode acp`), run with
 * `node --import tsx bench/provider-opencode.ts` (installs the CLIs first via e2e/install.sh).
 *
 * relay send → runner delivers (`session/prompt`) → OpenCode (fake OpenAI chat completions on
 * loopback, answering at once) → prompt answered → runner mirrors the reply → reply stored on the
 * relay. Split into the runner's share (relay → prompt written, and turn end → relay) and the
 * CLI's share (prompt written → turn end). One cold turn (first of the session: the title call
 * too) and N warm turns.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunner } from '../src/create-runner.js';
import { createOpenCodeProvider } from '../src/providers/opencode/provider.js';
import { createFakeOpenAIServer } from '../src/testing/fake-openai-server.js';
import { createRelayDevServer } from '../src/testing/relay-dev-server/index.js';
import { createMemoryLogger } from '../src/testing/memory-logger.js';
import { measureProviderTurns } from './provider-turns.js';

const WARM = Number(process.env.BENCH_TURNS ?? 10);
const root = new URL('..', import.meta.url).pathname;
execFileSync('bash', [join(root, 'e2e/install.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
const opencode = join(root, 'e2e/node_modules/.bin/opencode');

const dir = await mkdtemp(join(tmpdir(), 'arr-bench-opencode-'));
await mkdir(join(dir, 'work'));
const model = await createFakeOpenAIServer((call) => ({ output: [{ type: 'text', text: call.toolNames.length === 0 ? 'A title' : 'pong' }] }));
const relay = await createRelayDevServer();
const runner = createRunner({
  name: 'bench-opencode',
  relayUrl: relay.url,
  apiKey: relay.apiKey,
  provider: createOpenCodeProvider({
    command: opencode,
    stateDir: join(dir, 'state'),
    modelProvider: { id: 'fake', baseUrl: model.baseUrl, models: ['fake-model'], apiKeyEnv: 'FAKE_KEY' },
    env: { FAKE_KEY: 'sk-bench-dummy', OPENCODE_DISABLE_MODELS_FETCH: '1' },
  }),
  cwd: join(dir, 'work'),
  dataDir: join(dir, 'data'),
  logger: createMemoryLogger({ level: 'info' }),
  env: { PATH: process.env.PATH ?? '', HOME: dir },
  outbox: { baseDelayMs: 10, maxDelayMs: 100, pollIntervalMs: 20 },
});

console.log(
  JSON.stringify(
    await measureProviderTurns({
      bench: 'provider-opencode',
      runner,
      relay,
      warmTurns: WARM,
      replyTimeoutMs: 90_000,
      names: { toCli: 'runnerRelayToPrompt', cli: 'cliPromptToTurnEnd', toRelay: 'runnerTurnEndToRelay' },
      versionKey: 'opencodeVersion',
      cleanup: async () => {
        await model.close();
        await relay.close();
        await rm(dir, { recursive: true, force: true });
      },
    }),
    null,
    2,
  ),
);
