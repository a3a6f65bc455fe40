/**
 * The ProviderAdapter conformance suite, run against the real, pinned Claude Code CLI (headless)
 * and a fake Anthropic server on loopback.
 */
import { beforeAll, describe, it } from 'vitest';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createClaudeCodeProvider } from '../../src/providers/claude/headless.js';
import { runProviderConformance } from '../../src/testing/conformance/provider.js';
import { createFakeAnthropicServer } from '../../src/testing/fake-anthropic-server.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { CLAUDE_BIN, ensureClis } from './claude-helpers.js';

beforeAll(() => {
  ensureClis();
}, 600_000);

runProviderConformance(
  'claude (headless, real CLI)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-claude-conf-'));
    const home = join(dir, 'home');
    await mkdir(join(home, '.claude'), { recursive: true });
    // Claude Code merges an interrupted prompt with the next one into one user message, so route
    // on how the newest prompt ends, not on what the message contains.
    const model = await createFakeAnthropicServer((call) =>
      call.lastUserText.trimEnd().endsWith('[slow] take your time')
        ? { blocks: [{ type: 'text', text: 'still thinking' }], holdMs: 60_000 }
        : { blocks: [{ type: 'text', text: 'quick answer' }] },
    );
    return {
      adapter: createClaudeCodeProvider({ command: CLAUDE_BIN, pluginDir: false }),
      deps: { spawner: createChildProcessSpawner({ clock: createSystemClock() }), logger: createMemoryLogger({ level: 'debug' }), clock: createSystemClock() },
      launch: {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: home,
          CLAUDE_CONFIG_DIR: join(home, '.claude'),
          ANTHROPIC_BASE_URL: model.url,
          ANTHROPIC_API_KEY: 'sk-ant-e2e-dummy',
          DISABLE_TELEMETRY: '1',
          DISABLE_ERROR_REPORTING: '1',
          DISABLE_AUTOUPDATER: '1',
          CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        },
      },
      quickTurnText: 'say something quick',
      slowTurnText: '[slow] take your time',
      async cleanup() {
        await model.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { describe, it: (name, fn) => it(name, fn, 90_000) },
  { timeoutMs: 30_000 },
);
