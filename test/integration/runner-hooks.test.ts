/**
 * Hook-reported lifecycle through a whole runner: the Claude hook routes a provider registers turn
 * compaction, turn failures and the session's end into provider events the core acts on (log,
 * activity, timeline, insight), and a restarted provider serves them again.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { demoWithClaudeHooks, startRig, waitFor, type Rig } from '../helpers/rig.js';
import { runHook } from '../fixtures/hooks/harness.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('runner: lifecycle reported by the hooks', () => {
  it('compaction, a failed turn and the session end reach the core as provider events', async () => {
    rig = await startRig({ provider: demoWithClaudeHooks() });
    const r = rig;
    await r.runner.start();
    const base = { session_id: 's1', transcript_path: '/tmp/t.jsonl' };
    expect((await r.control('POST', '/hooks/pre-compact', { ...base, hook_event_name: 'PreCompact', trigger: 'manual' })).status).toBe(204);
    expect(r.logger.lines().some((l) => l.includes('compaction pre (manual)'))).toBe(true);
    expect((await r.control('POST', '/hooks/stop-failure', { ...base, hook_event_name: 'StopFailure', error: 'rate_limit', error_details: '429' })).status).toBe(204);
    expect(r.logger.entries.some((e) => e.level === 'error' && e.message.includes('turn failed: rate_limit (429)'))).toBe(true);
    expect((await r.control('POST', '/hooks/session-end', { ...base, hook_event_name: 'SessionEnd', reason: 'clear' })).status).toBe(204);
    await waitFor(() => r.timeline.some((t) => t.event === 'provider.session_end' && t.data?.reason === 'clear'), 'session_end on the timeline');
  });

  it('a provider without hook routes leaves the hook paths unserved (404); the runner’s own routes stay', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    expect((await r.control('POST', '/hooks/stop', { hook_event_name: 'Stop' })).status).toBe(404);
    expect((await r.control('POST', '/hooks/fatal', { hook: 'x', line: 1, exitCode: 1, command: 'false' })).status).toBe(204);
    expect((await r.control('GET', '/status')).status).toBe(200);
  });

  it('a restarted provider registers its hook routes again: they keep answering', async () => {
    rig = await startRig({ provider: demoWithClaudeHooks() });
    const r = rig;
    await r.runner.start();
    expect((await r.control('POST', '/hooks/subagent-start', { agent_id: 'a' })).status).toBe(204);
    const started = r.timeline.find((t) => t.event === 'provider.started');
    process.kill(started!.data!.pid as number, 'SIGKILL');
    await waitFor(() => r.timeline.filter((t) => t.event === 'provider.started').length === 2, 'the restarted provider');
    expect((await r.control('POST', '/hooks/subagent-stop', { agent_id: 'a' })).status).toBe(204);
    expect(r.logger.lines().some((l) => l.includes('already registered'))).toBe(false);
  });

  it("the real stop.sh hook gets the runner's own Stop decision: block while a shown message is owed, never with stop_hook_active, allow once answered", async () => {
    rig = await startRig({ provider: demoWithClaudeHooks(), obligationRefreshMs: 100 });
    const r = rig;
    await r.runner.start();
    const env = { AGENT_RELAY_RUNNER_PORT: new URL(r.runner.controlUrl!).port, AGENT_RELAY_RUNNER_TOKEN: 'control-token-for-tests' };
    const stop = (active: boolean) =>
      runHook('stop', JSON.stringify({ hook_event_name: 'Stop', session_id: 's1', transcript_path: '/tmp/t.jsonl', stop_hook_active: active }), env);
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    await waitFor(() => r.deliveries.some((d) => d.messageId === sent.id && d.state === 'consumed'), 'consumed');
    const blocked = await waitFor(async () => {
      const run = await stop(false);
      return run.stdout.trim() !== '' ? run : undefined;
    }, 'a blocking Stop from the hook');
    expect(blocked.code).toBe(0);
    const decision = JSON.parse(blocked.stdout) as { decision: string; reason: string };
    expect(decision.decision).toBe('block');
    expect(decision.reason).toContain(`--reply-to ${sent.id}`);
    const active = await stop(true);
    expect({ code: active.code, stdout: active.stdout }).toEqual({ code: 0, stdout: '' });
    expect((await r.control('POST', '/send', { to: 'alice', body: '4', replyTo: sent.id })).status).toBe(200);
    const allowed = await stop(false);
    expect({ code: allowed.code, stdout: allowed.stdout }).toEqual({ code: 0, stdout: '' });
  });
});
