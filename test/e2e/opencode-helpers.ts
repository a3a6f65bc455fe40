/**
 * Shared setup of the OpenCode end-to-end tests: the pinned CLI (installed by e2e/install.sh), the
 * fake OpenAI server's Chat Completions API as its model, and an isolated state dir per test.
 */
import { OPENCODE_BIN, ensureClis } from './clis.js';
import type { OpenCodeProviderOptions } from '../../src/providers/opencode/provider.js';
import type { FakeOpenAICall, FakeOpenAIServer } from '../../src/testing/fake-openai-server.js';

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
