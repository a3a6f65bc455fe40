import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createControlServer, type ControlServer } from '../../src/control/control-server.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createRecordingHandlers, runHook, type RecordingHandlers } from '../fixtures/hooks/harness.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';

/**
 * The payloads real Claude Code 2.1.330 sent in the e2e runs (test/fixtures/claude-hooks), replayed
 * through the real hook scripts against a live control port: each hook reaches the handler it
 * should, with the fields parsed, and prints what Claude expects.
 */
const TOKEN = 'recorded-fixture-token';
const recorded = (name: string) => readFileSync(resolve(import.meta.dirname, '../fixtures/claude-hooks', `${name}.json`), 'utf8');

let server: ControlServer | undefined;
let handlers: RecordingHandlers;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function replay(script: string, fixture: string, owed: Array<{ messageId: string; from: string }> = []) {
  handlers = createRecordingHandlers({ fetchObligations: async () => owed });
  await handlers.cache.refresh();
  server = await createControlServer({ clock: createSystemClock(), routes: handlers.routes, token: TOKEN, logger: createMemoryLogger() });
  const payload = recorded(fixture);
  const run = await runHook(script, payload, { AGENT_RELAY_RUNNER_PORT: String(server.port), AGENT_RELAY_RUNNER_TOKEN: TOKEN });
  return { run, payload: JSON.parse(payload) as Record<string, unknown> };
}

describe('recorded Claude Code hook payloads through the real hooks', () => {
  it.each([
    ['session-start', 'session-start-startup', 'sessionStart', { source: 'startup' }],
    ['session-start', 'session-start-resume', 'sessionStart', { source: 'resume' }],
    ['user-prompt-submit', 'user-prompt-submit', 'userPrompt', {}],
    ['session-end', 'session-end', 'sessionEnd', {}],
  ] as const)('%s (%s) reaches %s', async (script, fixture, method, expected) => {
    const { run, payload } = await replay(script, fixture);
    expect(run.code).toBe(0);
    const [call] = handlers.of(method) as Array<Record<string, unknown>>;
    expect(call).toMatchObject({ sessionId: payload.session_id, ...expected });
    if (method === 'userPrompt') expect(call?.prompt).toBe(payload.prompt);
  });

  it('stop with nothing owed clears busy with the final text', async () => {
    const { run, payload } = await replay('stop', 'stop');
    expect(run).toMatchObject({ code: 0, stdout: '' });
    expect(handlers.of('sessionTurn')[0]).toMatchObject({ lastAssistantMessage: payload.last_assistant_message, via: 'stop' });
  });

  it('stop with a reply owed prints the block decision', async () => {
    const { run } = await replay('stop', 'stop-block', [{ messageId: 'msg_1', from: 'alice' }]);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ decision: 'block' });
    expect(handlers.of('sessionTurn')).toHaveLength(0);
  });

  it('stop after a block (stop_hook_active) never blocks again', async () => {
    const { run } = await replay('stop', 'stop-active', [{ messageId: 'msg_1', from: 'alice' }]);
    expect(run).toMatchObject({ code: 0, stdout: '' });
  });

  it('a permission request carries the tool and its input, and prints the allow decision', async () => {
    const { run, payload } = await replay('permission-request', 'permission-request');
    expect(run.code).toBe(0);
    expect(handlers.of('permissionRequest')[0]).toMatchObject({ toolName: payload.tool_name, toolInput: payload.tool_input });
    expect(JSON.parse(run.stdout)).toMatchObject({ hookSpecificOutput: { hookEventName: 'PermissionRequest', decision: { behavior: 'allow' } } });
  });
});
