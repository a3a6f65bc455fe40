import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { ensureBuilt, jsonLines, runCli, startCli, waitFor, type CliProcess } from './cli-helpers.js';

beforeAll(ensureBuilt, 240_000);

let live: CliProcess | undefined;
const leftovers: string[] = [];
afterEach(async () => {
  if (live && live.child.exitCode === null) live.child.kill('SIGKILL');
  live = undefined;
  for (const dir of leftovers.splice(0)) await rm(dir, { recursive: true, force: true });
});

/** The message id on the line that says alice sent it. */
function sentId(stdout: string): string {
  const match = /alice → demo-agent (msg_\S+):/.exec(stdout);
  expect(match, stdout).not.toBeNull();
  return match![1]!;
}

describe('agent-relay-runner demo', () => {
  it('shows a full round trip in text and exits 0, removing its temp dir', async () => {
    const result = await runCli(['demo', '--message', 'ping from the test [tool:grep]']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const out = result.stdout;
    const id = sentId(out);
    // The three delivery states of alice's message, in order.
    const states = [...out.matchAll(new RegExp(`delivery\\s+${id} (\\w+)`, 'g'))].map((m) => m[1]);
    expect(states).toEqual(['queued', 'injected', 'consumed', 'finished']);
    // Status changes, the mirror (prompt, reasoning, tool step, reply) and the reply at the relay.
    expect(out).toMatch(/status\s+busy/);
    expect(out).toMatch(/status\s+idle/);
    expect(out).toMatch(/mirror\s+prompt\s+"ping from the test \[tool:grep\]"/);
    expect(out).toMatch(/mirror\s+reasoning/);
    expect(out).toMatch(/mirror\s+tool\s+"grep started/);
    expect(out).toMatch(/mirror\s+reply\s+"Echo: ping from the test"/);
    expect(out).toContain(`reply mirrored to the relay for ${id}: "Echo: ping from the test"`);
    expect(out).toMatch(/demo-agent → alice msg_\S+: "Echo: ping from the test" \(reply obligation cleared\)/);
    expect(out).toContain('round trip complete: delivery queued → injected → consumed');
    expect(out.trimEnd().split('\n').at(-1)).toMatch(/demo\s+stopped$/);
    const dir = /data and logs in (\S+)/.exec(out)?.[1];
    expect(dir).toBeDefined();
    expect(existsSync(dir!)).toBe(false);
  }, 60_000);

  it('--json prints one parseable object per line covering the same story', async () => {
    const result = await runCli(['demo', '--json']);
    expect(result.code).toBe(0);
    const events = jsonLines(result.stdout);
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('demo.start');
    const sent = events.find((e) => e.type === 'relay.message') as { message: { id: string } };
    const states = events
      .filter((e) => e.type === 'delivery' && (e.delivery as { messageId: string }).messageId === sent.message.id)
      .map((e) => (e.delivery as { state: string }).state);
    expect(states).toEqual(['queued', 'injected', 'consumed', 'finished']);
    expect(events.some((e) => e.type === 'status' && (e.status as { state: string }).state === 'busy')).toBe(true);
    const entries = events.filter((e) => e.type === 'mirror').map((e) => (e.mirror as { entry: string }).entry);
    expect(entries).toEqual(expect.arrayContaining(['prompt', 'reasoning', 'tool', 'reply']));
    const reply = events.find((e) => e.type === 'relay.reply') as { message: { body: string; replyTo: string } };
    expect(reply.message.replyTo).toBe(sent.message.id);
    expect(reply.message.body).toMatch(/^Echo: /);
    expect(events.find((e) => e.type === 'demo.ok')).toMatchObject({ deliveryStates: ['queued', 'injected', 'consumed', 'finished'] });
    expect(events.at(-1)).toMatchObject({ type: 'demo.stopped', ok: true });
    for (const e of events) expect(typeof e.at).toBe('number');
  }, 60_000);

  it('fails with a clear message and exit 1 when the round trip exceeds --timeout, keeping the log', async () => {
    const result = await runCli(['demo', '--timeout', '1']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/agent-relay-runner demo: timed out waiting for/);
    const kept = /kept in (\S+)/.exec(result.stderr)?.[1];
    expect(kept).toBeDefined();
    leftovers.push(kept!);
    expect(existsSync(kept!)).toBe(true);
  }, 60_000);

  it('--stay keeps running, sends stdin lines as alice, and stops cleanly on SIGINT', async () => {
    live = startCli(['demo', '--stay']);
    const proc = live;
    await waitFor(() => proc.stdout().includes('type a line to send it as alice'), 'the stay prompt', 30_000);
    proc.child.stdin!.write('second question\n');
    await waitFor(() => /mirror\s+reply\s+"Echo: second question"/.test(proc.stdout()), 'the reply to the typed line', 30_000);
    proc.child.kill('SIGINT');
    const result = await proc.done;
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/demo\s+stopped/);
    const dir = /data and logs in (\S+)/.exec(result.stdout)?.[1];
    expect(existsSync(dir!)).toBe(false);
  }, 60_000);
});
