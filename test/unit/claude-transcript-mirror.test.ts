import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TranscriptMirror } from '../../src/providers/claude/transcript-mirror.js';
import { claudeHookSink, toolResponseSummary } from '../../src/providers/claude/hook-routes.js';
import { toolHookSchema } from '../../src/providers/claude/hook-schemas.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import type { ProviderEvent } from '../../src/ports/provider.js';
import * as v from 'valibot';

const line = (entry: unknown) => `${JSON.stringify(entry)}\n`;
const assistant = (...content: unknown[]) => line({ type: 'assistant', isSidechain: false, message: { role: 'assistant', content } });
const thinking = (text: string) => ({ type: 'thinking', thinking: text, signature: 'sig' });
const toolUse = (id: string) => ({ type: 'tool_use', id, name: 'Bash', input: { command: 'ls' } });

let dir: string;
let path: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'arr-transcript-'));
  path = join(dir, 'session.jsonl');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function setup(waitMs = 1_000) {
  const clock = createFakeClock();
  const events: ProviderEvent[] = [];
  const mirror = new TranscriptMirror({ clock, logger: createMemoryLogger(), dispatch: (e) => events.push(e), waitMs, pollMs: 50 });
  const shown = () => events.map((e) => (e.type === 'reasoning' ? `reasoning:${e.text}` : e.type === 'tool' ? `tool:${e.status}` : e.type));
  return { clock, events, mirror, shown };
}

type Setup = ReturnType<typeof setup>;

/**
 * Wait (real time, bounded) until the mirror sleeps on the fake clock or has nothing left to do.
 * Its transcript reads are real file I/O, which completes on a later macrotask than the fake
 * clock's microtask flushes reach: fake time must move only while the mirror waits on it, or a
 * poll timer set after an advance is never fired (seen on Node 26).
 */
async function whenWaiting(t: Setup): Promise<void> {
  let done = false;
  void t.mirror.idle().then(() => (done = true));
  await vi.waitFor(
    () => {
      if (!done && t.clock.pendingTimers() === 0) throw new Error('the mirror is still reading the transcript');
    },
    { timeout: 5_000, interval: 1 },
  );
}

/** Advance fake time by `ms` in poll steps, each only while the mirror sleeps, stopping early once `until()` holds. */
async function drive(t: Setup, ms: number, until: () => boolean = () => false): Promise<void> {
  const end = t.clock.now() + ms;
  await whenWaiting(t);
  while (t.clock.now() < end && !until()) {
    await t.clock.advanceAsync(Math.min(50, end - t.clock.now()));
    await whenWaiting(t);
  }
}

describe('TranscriptMirror: hook events in order with the transcript reasoning', () => {
  it('emits the thinking before the tool step and the reply, and skips what came before the turn', async () => {
    const t = setup();
    // An old session's history (a resume): never mirrored again.
    await writeFile(path, assistant(thinking('old thought')) + line({ type: 'user', message: { content: 'hi' } }));
    t.mirror.push({ type: 'turn.started', prompt: 'p' }, { transcriptPath: path });
    await t.mirror.idle();
    await appendFile(path, assistant(thinking('first I look')) + assistant(toolUse('tu_1')));
    t.mirror.push({ type: 'tool', name: 'Bash', summary: 'ls', status: 'started' }, { transcriptPath: path, toolUseId: 'tu_1' });
    t.mirror.push({ type: 'tool', name: 'Bash', summary: 'out', status: 'completed' }, { transcriptPath: path, toolUseId: 'tu_1' });
    await t.mirror.idle();
    await appendFile(path, line({ type: 'user', message: { content: [{ type: 'tool_result', tool_use_id: 'tu_1' }] } }) + assistant(thinking('now answer'), { type: 'text', text: 'Done.' }));
    t.mirror.push({ type: 'turn.completed', finalText: 'Done.' }, { transcriptPath: path, finalText: 'Done.' });
    await t.mirror.idle();
    expect(t.shown()).toEqual(['turn.started', 'reasoning:first I look', 'tool:started', 'tool:completed', 'reasoning:now answer', 'turn.completed']);
  });

  it('waits (bounded, on the clock) for a line Claude writes after the hook fired, then goes on without it', async () => {
    const t = setup(1_000);
    await writeFile(path, '');
    t.mirror.push({ type: 'tool', name: 'Bash', summary: 'ls', status: 'started' }, { transcriptPath: path, toolUseId: 'tu_late' });
    await drive(t, 100);
    expect(t.shown()).toEqual([]); // held for its line: the reasoning must come first
    // Half a line first (Claude mid-write): not parsed until complete.
    const late = assistant(thinking('late thought'), toolUse('tu_late'));
    await appendFile(path, late.slice(0, 20));
    await drive(t, 100);
    expect(t.shown()).toEqual([]);
    await appendFile(path, late.slice(20));
    await drive(t, 100, () => t.shown().length === 2);
    await t.mirror.idle();
    expect(t.shown()).toEqual(['reasoning:late thought', 'tool:started']);
    // A tool whose line never comes is passed on after the wait, and not before.
    const pushedAt = t.clock.now();
    t.mirror.push({ type: 'tool', name: 'Bash', summary: 'x', status: 'started' }, { transcriptPath: path, toolUseId: 'tu_never' });
    await drive(t, 950);
    expect(t.shown()).toHaveLength(2);
    await drive(t, 200, () => t.shown().length === 3);
    await t.mirror.idle();
    expect(t.shown()).toEqual(['reasoning:late thought', 'tool:started', 'tool:started']);
    expect(t.clock.now() - pushedAt).toBeGreaterThanOrEqual(1_000);
  });

  it('ends a turn at its last text block (a final message of several blocks) without waiting', async () => {
    const t = setup(1_000);
    await writeFile(path, '');
    t.mirror.push({ type: 'turn.started', prompt: 'p' }, { transcriptPath: path });
    await t.mirror.idle();
    await appendFile(path, assistant(thinking('plan'), { type: 'text', text: 'Part one.' }) + assistant({ type: 'text', text: 'Part two.' }));
    t.mirror.push({ type: 'turn.completed', finalText: 'Part one.\n\nPart two.' }, { transcriptPath: path, finalText: 'Part one.\n\nPart two.' });
    await vi.waitFor(() => expect(t.shown()).toEqual(['turn.started', 'reasoning:plan', 'turn.completed']));
  });

  it('skips a long history in chunks at a new turn, and reads on from there', async () => {
    const t = setup(0);
    // Over two read chunks (1 MiB each) of old thinking, one line over a chunk included.
    const old = assistant(thinking('x'.repeat(300_000))).repeat(7) + assistant(thinking('y'.repeat(1_200_000)));
    await writeFile(path, old);
    t.mirror.push({ type: 'turn.started', prompt: 'p' }, { transcriptPath: path });
    await t.mirror.idle();
    await appendFile(path, assistant(thinking('fresh')));
    t.mirror.push({ type: 'turn.completed' }, { transcriptPath: path });
    await t.mirror.idle();
    expect(t.shown()).toEqual(['turn.started', 'reasoning:fresh', 'turn.completed']);
  });

  it("ignores subagents' (sidechain) thinking, unparseable lines and a missing file", async () => {
    const t = setup(0);
    t.mirror.push({ type: 'turn.completed' }, { transcriptPath: join(dir, 'missing.jsonl') });
    await t.mirror.idle();
    await writeFile(path, 'not json\n' + line({ type: 'assistant', isSidechain: true, message: { content: [thinking('sub')] } }) + assistant(thinking('  ')) + assistant(thinking('main')));
    t.mirror.push({ type: 'turn.completed' }, { transcriptPath: path });
    await t.mirror.idle();
    expect(t.shown()).toEqual(['turn.completed', 'reasoning:main', 'turn.completed']);
  });
});

describe('tool hooks → tool steps (interactive only)', () => {
  const parse = (phase: 'pre' | 'post' | 'failure', body: unknown) => v.parse(toolHookSchema(phase), body);
  const sink = (hookDriven: boolean) => {
    const got: Array<[ProviderEvent, unknown]> = [];
    const s = claudeHookSink({
      host: { stopDecision: () => ({ block: false }), requestPermission: async () => ({ behavior: 'allow' }) },
      hookDriven,
      dispatch: (e, c) => got.push([e, c]),
    });
    return { s, got };
  };
  const base = { session_id: 's', transcript_path: '/t.jsonl', cwd: '/w', tool_name: 'Bash', tool_input: { command: 'echo  hi' }, tool_use_id: 'tu_1' };

  it('maps PreToolUse, PostToolUse and PostToolUseFailure as headless stdout does, with the transcript place', () => {
    const { s, got } = sink(true);
    s.toolUse(parse('pre', { ...base, hook_event_name: 'PreToolUse' }));
    s.toolUse(parse('post', { ...base, hook_event_name: 'PostToolUse', tool_response: { stdout: 'hi\n', stderr: '', interrupted: false } }));
    s.toolUse(parse('failure', { ...base, hook_event_name: 'PostToolUseFailure', error: 'Exit code 1\nboom', is_interrupt: false }));
    expect(got).toEqual([
      [{ type: 'tool', name: 'Bash', summary: 'echo hi', status: 'started' }, { transcriptPath: '/t.jsonl', toolUseId: 'tu_1' }],
      [{ type: 'tool', name: 'Bash', summary: 'hi', status: 'completed' }, { transcriptPath: '/t.jsonl', toolUseId: 'tu_1' }],
      [{ type: 'tool', name: 'Bash', summary: 'Exit code 1 boom', status: 'failed' }, { transcriptPath: '/t.jsonl', toolUseId: 'tu_1' }],
    ]);
  });

  it('reports nothing in headless mode (stdout has the tool steps) and refuses a payload of another hook', () => {
    const { s, got } = sink(false);
    s.toolUse(parse('pre', { ...base, hook_event_name: 'PreToolUse' }));
    expect(got).toEqual([]);
    expect(() => parse('post', { ...base, hook_event_name: 'PreToolUse' })).toThrow(/does not belong/);
  });

  it('summarises a tool response: stdout, a text field, plain text, else the JSON', () => {
    expect(toolResponseSummary(JSON.stringify({ stdout: '', stderr: 'bad  thing' }))).toBe('bad thing');
    expect(toolResponseSummary(JSON.stringify({ file: { path: '/x' } }))).toBe('{"file":{"path":"/x"}}');
    expect(toolResponseSummary('plain')).toBe('plain');
    expect(toolResponseSummary(undefined)).toBe('');
    expect(toolResponseSummary('x'.repeat(500))).toHaveLength(201);
  });
});
