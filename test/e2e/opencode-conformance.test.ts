import { beforeAll, describe, it } from 'vitest';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createOpenCodeProvider } from '../../src/providers/opencode/provider.js';
import { createFakeOpenAIServer } from '../../src/testing/fake-openai-server.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { runProviderConformance } from '../../src/testing/conformance/provider.js';
import { ensureOpenCode, isTitleCall, openCodeOptionsFor } from './opencode-helpers.js';

beforeAll(() => {
  ensureOpenCode();
}, 600_000);

runProviderConformance(
  'opencode (real CLI, fake OpenAI chat completions)',
  async () => {
    // `[slow]` holds the answer long enough to interrupt.
    const model = await createFakeOpenAIServer((call) =>
      isTitleCall(call)
        ? { output: [{ type: 'text', text: 'A title' }] }
        : { holdMs: call.lastUserText.includes('[slow]') ? 20_000 : 0, output: [{ type: 'text', text: `answer ${call.index}` }] },
    );
    const dir = await mkdtemp(join(tmpdir(), 'arr-opencode-conf-'));
    await mkdir(join(dir, 'work'));
    const clock = createSystemClock();
    return {
      adapter: createOpenCodeProvider(openCodeOptionsFor(model, join(dir, 'state'))),
      deps: { spawner: createChildProcessSpawner({ clock }), logger: createMemoryLogger({ level: 'debug' }), clock },
      launch: { cwd: join(dir, 'work'), env: { PATH: process.env.PATH ?? '', HOME: dir } },
      quickTurnText: 'say something',
      slowTurnText: 'take long [slow]',
      async cleanup() {
        await model.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { describe, it: (name, fn) => it(name, fn, 90_000) },
  { timeoutMs: 60_000 },
);
