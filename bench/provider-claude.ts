/**
 * Round trip through the real, pinned Claude Code CLI (headless), run with
 * `node --import tsx bench/provider-claude.ts` (installs the CLIs first via e2e/install.sh).
 *
 * relay send → runner delivers (stdin) → Claude Code (hooks, fake Anthropic server on loopback,
 * answering at once) → result line → runner mirrors the reply → reply stored on the relay.
 * Split into the runner's share (relay → stdin, and result → relay) and the CLI's share
 * (stdin → result line). One cold turn (first turn of the session) and N warm turns.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunner } from '../src/create-runner.js';
import { createClaudeCodeProvider } from '../src/providers/claude/headless.js';
import { createFakeAnthropicServer } from '../src/testing/fake-anthropic-server.js';
import { createRelayDevServer } from '../src/testing/relay-dev-server/index.js';
import { createMemoryLogger } from '../src/testing/memory-logger.js';
import { measureProviderTurns } from './provider-turns.js';

const WARM = Number(process.env.BENCH_TURNS ?? 10);
const root = new URL('..', import.meta.url).pathname;
execFileSync('bash', [join(root, 'e2e/install.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
const claude = join(root, 'e2e/node_modules/.bin/claude');

const dir = await mkdtemp(join(tmpdir(), 'arr-bench-claude-'));
const home = join(dir, 'home');
await mkdir(join(home, '.claude'), { recursive: true });
const model = await createFakeAnthropicServer(() => ({ blocks: [{ type: 'text', text: 'pong' }] }));
const relay = await createRelayDevServer();
const runner = createRunner({
  name: 'bench-claude',
  relayUrl: relay.url,
  apiKey: relay.apiKey,
  provider: createClaudeCodeProvider({ command: claude }),
  cwd: dir,
  dataDir: join(dir, 'data'),
  logger: createMemoryLogger({ level: 'info' }),
  env: {
    PATH: process.env.PATH ?? '',
    HOME: home,
    CLAUDE_CONFIG_DIR: join(home, '.claude'),
    ANTHROPIC_BASE_URL: model.url,
    ANTHROPIC_API_KEY: 'sk-ant-bench-dummy',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
  },
  outbox: { baseDelayMs: 10, maxDelayMs: 100, pollIntervalMs: 20 },
});

console.log(
  JSON.stringify(
    await measureProviderTurns({
      bench: 'provider-claude',
      runner,
      relay,
      warmTurns: WARM,
      replyTimeoutMs: 60_000,
      names: { toCli: 'runnerRelayToStdin', cli: 'cliStdinToResult', toRelay: 'runnerResultToRelay' },
      versionKey: 'claudeVersion',
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
