/**
 * The headless Claude adapter's edges that the real CLI cannot be made to show on demand: a missing
 * binary, a too-old version, unparseable stdout, and one-turn-at-a-time writing. A small stand-in
 * `claude` script (a real child process) prints stream-json lines shaped like the real CLI's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createChildProcessSpawner } from '../../src/adapters/child-process-spawner.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { isRunnerError, ProviderError } from '../../src/errors/index.js';
import type { ProviderDeps, ProviderEvent, ProviderSession } from '../../src/ports/provider.js';
import { CLAUDE_PLUGIN_DIR, createClaudeCodeProvider } from '../../src/providers/claude/headless.js';
import { createMemoryLogger, type MemoryLogger } from '../../src/testing/memory-logger.js';
import { waitFor } from '../helpers/rig.js';

const STAND_IN = `#!/usr/bin/env node
import { appendFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
if (process.argv.includes('--version')) { console.log(process.env.FAKE_CLAUDE_VERSION ?? '2.1.330 (Claude Code)'); process.exit(0); }
const sid = '11111111-2222-3333-4444-555555555555';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
appendFileSync(process.env.FAKE_CLAUDE_LOG, JSON.stringify({ argv: process.argv.slice(2) }) + '\\n');
const resumeAt = process.argv.indexOf('--resume');
if (resumeAt > 0) { console.error('No conversation found with session ID: ' + process.argv[resumeAt + 1]); process.exit(1); }
out({ type: 'system', subtype: 'hook_started', hook_name: 'SessionStart:startup', hook_event: 'SessionStart', session_id: sid });
const queue = [];
let busy = false;
const run = () => {
  if (busy || queue.length === 0) return;
  busy = true;
  const text = queue.shift();
  out({ type: 'system', subtype: 'init', session_id: sid, model: 'claude-fake', tools: ['Bash'], future_field: { x: 1 } });
  if (text.includes('[garbage]')) process.stdout.write('this is not json\\n');
  out({ type: 'assistant', session_id: sid, parent_tool_use_id: null, message: { content: [{ type: 'thinking', thinking: 'hmm' }], usage: { input_tokens: 50, output_tokens: 1 } } });
  out({ type: 'assistant', session_id: sid, parent_tool_use_id: null, message: { content: [{ type: 'text', text: 'Echo: ' + text }], usage: { input_tokens: 50, output_tokens: 7 } } });
  out({ type: 'some_future_type', session_id: sid });
  setTimeout(() => {
    out({ type: 'result', subtype: 'success', is_error: false, result: 'Echo: ' + text, session_id: sid, modelUsage: { 'claude-fake': { contextWindow: 200000 } } });
    busy = false;
    run();
  }, 300);
};
createInterface({ input: process.stdin }).on('line', (line) => {
  appendFileSync(process.env.FAKE_CLAUDE_LOG, line + '\\n');
  const msg = JSON.parse(line);
  if (msg.type === 'user') { queue.push(msg.message.content[0].text); run(); }
});
`;

let dir: string | undefined;
const sessions: ProviderSession[] = [];
afterEach(async () => {
  await Promise.all(sessions.splice(0).map((s) => s.stop().catch(() => undefined)));
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

function deps(logger: MemoryLogger = createMemoryLogger({ level: 'debug' })): ProviderDeps & { logger: MemoryLogger } {
  return { spawner: createChildProcessSpawner({ clock: createSystemClock() }), logger, clock: createSystemClock() };
}

async function standIn(): Promise<{ command: string; log: string }> {
  dir = await mkdtemp(join(tmpdir(), 'arr-claude-standin-'));
  const command = join(dir, 'claude');
  await writeFile(command, STAND_IN);
  await chmod(command, 0o755);
  return { command, log: join(dir, 'stdin.log') };
}

describe('headless Claude adapter edges', () => {
  it('a missing binary is a ProviderError at checkVersion', async () => {
    const adapter = createClaudeCodeProvider({ command: '/nonexistent/dir/claude' });
    const error = await adapter.checkVersion(deps()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderError);
    expect(isRunnerError(error) && error.message).toMatch(/Claude Code not found/);
  });

  it('a version below the minimum is a ProviderError; the version is read and logged', async () => {
    const { command } = await standIn();
    const old = createClaudeCodeProvider({ command, minVersion: '99.0.0' });
    await expect(old.checkVersion(deps())).rejects.toThrow(/too old/);
    const logger = createMemoryLogger({ level: 'debug' });
    expect(await createClaudeCodeProvider({ command }).checkVersion(deps(logger))).toBe('2.1.330');
    expect(logger.entries.some((e) => e.message.includes('Claude Code version 2.1.330'))).toBe(true);
  });

  it('writes one turn at a time, maps stdout to events, and surfaces unparseable lines as warnings', async () => {
    const { command, log } = await standIn();
    const logger = createMemoryLogger({ level: 'debug' });
    const adapter = createClaudeCodeProvider({ command, pluginDir: CLAUDE_PLUGIN_DIR });
    const session = await adapter.start({ cwd: dir!, env: { PATH: process.env.PATH ?? '', FAKE_CLAUDE_LOG: log } }, deps(logger));
    sessions.push(session);
    const events: ProviderEvent[] = [];
    session.onEvent((e) => events.push(e));
    // Two turns handed over back to back: the second is held until the first one's result.
    await session.deliver({ deliveryId: 'd1', text: 'first [garbage]' });
    await session.deliver({ deliveryId: 'd2', text: 'second' });
    await waitFor(() => events.filter((e) => e.type === 'turn.completed').length === 2, 'two turns completed');
    const lines = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]?.argv).toEqual(expect.arrayContaining(['-p', '--input-format', 'stream-json', '--output-format', 'stream-json', '--verbose', '--plugin-dir', CLAUDE_PLUGIN_DIR]));
    expect(lines.slice(1).map((l) => (l.message as { content: Array<{ text: string }> }).content[0]?.text)).toEqual(['first [garbage]', 'second']);
    const shape = events.map((e) => (e.type === 'turn.started' ? `started:${e.deliveryId}` : e.type));
    expect(shape).toEqual([
      'session',
      'started:d1',
      'warning',
      'reasoning',
      'assistant',
      'turn.completed',
      'usage',
      'started:d2',
      'reasoning',
      'assistant',
      'turn.completed',
      'usage',
    ]);
    expect(events[0]).toEqual({ type: 'session', sessionId: '11111111-2222-3333-4444-555555555555', source: 'startup' });
    expect(events.find((e) => e.type === 'turn.completed')).toEqual({ type: 'turn.completed', turnId: 'turn-1', finalText: 'Echo: first [garbage]' });
    // Each turn is named, and its completion names it (the conformance suite requires it of every adapter).
    expect(events.filter((e) => e.type === 'turn.started' || e.type === 'turn.completed').map((e) => (e as { turnId?: string }).turnId)).toEqual(['turn-1', 'turn-1', 'turn-2', 'turn-2']);
    expect(events.find((e) => e.type === 'usage')).toEqual({ type: 'usage', usedTokens: 57, windowTokens: 200000 });
    const warning = events.find((e) => e.type === 'warning');
    expect(warning?.type === 'warning' && warning.message).toContain('this is not json');
    expect(logger.entries.some((e) => e.level === 'warn' && e.message.includes('unparseable stdout line') && e.message.includes('this is not json'))).toBe(true);
    const exit = await session.stop();
    expect(exit.code).toBe(0);
  });

  it('a session Claude Code cannot resume is reported, and the next start begins a new one', async () => {
    const { command, log } = await standIn();
    const adapter = createClaudeCodeProvider({ command });
    const launch = { cwd: dir!, env: { PATH: process.env.PATH ?? '', FAKE_CLAUDE_LOG: log }, resumeSessionId: 'gone-session' };
    const first = await adapter.start(launch, deps());
    sessions.push(first);
    const events: ProviderEvent[] = [];
    first.onEvent((e) => events.push(e));
    expect((await first.exited).code).toBe(1);
    await waitFor(() => events.some((e) => e.type === 'warning' && e.message.includes('cannot resume session gone-session')), 'the warning');
    const second = await adapter.start(launch, deps());
    sessions.push(second);
    const secondEvents: ProviderEvent[] = [];
    second.onEvent((e) => secondEvents.push(e));
    await waitFor(() => secondEvents.find((e) => e.type === 'session'), 'a new session');
    const argvs = (await readFile(log, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { argv: string[] }).argv);
    expect(argvs[0]).toContain('--resume');
    expect(argvs[1]).not.toContain('--resume');
    expect(secondEvents.find((e) => e.type === 'session')).toMatchObject({ source: 'startup' });
  });
});
