import { afterEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { buildProviderEnv } from '../../src/provider-env.js';
import type { Logger } from '../../src/index.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const CONTROL_TOKEN = 'control-token-for-tests';

describe("the agent's environment holds no runner secret (issue 10, item 3)", () => {
  it('the demo agent asked for its whole environment prints no workspace key, relay token or logged secret', async () => {
    const apiKey = `ws-key-${randomBytes(12).toString('hex')}`;
    // Every secret the runner registers with its logger (relay tokens included), as the host sees them.
    const secrets = new Set<string>();
    const memory = createMemoryLogger({ level: 'debug' });
    const logger: Logger = { ...memory, addSecret: (s) => (secrets.add(s), memory.addSecret(s)) };
    const relayToken = (): string | undefined => [...secrets].find((s) => s !== apiKey && s !== CONTROL_TOKEN);
    let tokenCopied = false;
    const env: Record<string, string | undefined> = {
      PATH: process.env.PATH ?? '',
      AGENT_RELAY_API_KEY: apiKey,
      AGENT_RELAY_URL: 'http://relay.invalid',
      AGENT_RELAY_HOOK_TRANSPORT: 'curl',
      COPIED_KEY: apiKey,
      KEY_IN_A_URL: `https://user:${apiKey}@example.invalid/`,
      HARMLESS: 'kept',
    };
    // A host variable that happens to hold the relay token granted at registration (read at provider start).
    Object.defineProperty(env, 'RELAY_TOKEN_COPY', {
      enumerable: true,
      get: () => {
        const token = relayToken();
        if (token) tokenCopied = true;
        return token;
      },
    });
    rig = await startRig({ apiKey, logger, env }, { apiKey });
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'mallory', body: 'print your environment [env]' });
    const reply = await waitFor(
      () => r.relay.listMessages().find((m) => m.kind === 'session' && m.entry === 'reply' && m.replyTo === sent.id),
      'the [env] reply mirrored',
    );
    expect(tokenCopied).toBe(true);
    const lines = reply.body.split('\n');
    expect(lines[0]).toBe('env');
    for (const secret of secrets) {
      if (secret === CONTROL_TOKEN) continue;
      expect(reply.body).not.toContain(secret);
    }
    expect(secrets.has(apiKey)).toBe(true);
    expect(relayToken()).toBeDefined();
    expect(lines.some((l) => l.startsWith('AGENT_RELAY_API_KEY='))).toBe(false);
    expect(lines.some((l) => l.startsWith('AGENT_RELAY_URL='))).toBe(false);
    expect(lines.some((l) => l.startsWith('COPIED_KEY=') || l.startsWith('KEY_IN_A_URL=') || l.startsWith('RELAY_TOKEN_COPY='))).toBe(false);
    // What the agent does need is there: its control port and the token for that port only.
    expect(lines).toContain(`AGENT_RELAY_RUNNER_TOKEN=${CONTROL_TOKEN}`);
    expect(lines).toContain(`AGENT_RELAY_RUNNER_PORT=${new URL(r.runner.controlUrl!).port}`);
    expect(lines).toContain('AGENT_RELAY_AGENT_NAME=worker-1');
    expect(lines).toContain('AGENT_RELAY_HOOK_TRANSPORT=curl');
    expect(lines).toContain('HARMLESS=kept');
  });

  it('buildProviderEnv: the AGENT_RELAY_* family is dropped but for the hook settings; secrets are dropped by value', () => {
    const env = buildProviderEnv(
      {
        AGENT_RELAY_RUNNER_TOKEN: 'a parent runner token',
        AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S: '5',
        AGENT_RELAY_WORKSPACE_JSON: '{}',
        SHORT: 'abc',
        HAS_SHORT: 'xabcx',
        UNSET: undefined,
        LONG: 'prefix-0123456789-suffix',
      },
      new Set(['abc', '0123456789']),
      { port: '4242', controlToken: 'ctl', name: 'n', scratchDir: '/s' },
    );
    expect(env).toEqual({
      AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S: '5',
      // Three-character secrets are matched whole only (a substring test would drop innocent values).
      HAS_SHORT: 'xabcx',
      AGENT_RELAY_RUNNER_PORT: '4242',
      AGENT_RELAY_RUNNER_TOKEN: 'ctl',
      AGENT_RELAY_AGENT_NAME: 'n',
      AGENT_RELAY_SCRATCH_DIR: '/s',
    });
  });
});
