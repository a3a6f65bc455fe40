import { afterEach, describe, expect, it } from 'vitest';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { demoWithClaudeHooks, startRig, waitFor, type Rig } from '../helpers/rig.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const sessionMessages = (r: Rig) => r.relay.listMessages().filter((m) => m.kind === 'session');

describe('runner with the reference relay and the demo provider', () => {
  it('delivers a message through queued → injected → consumed → finished and mirrors the reply with replyTo', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const agentId = r.runner.agentId!;
    const sent = r.relay.sendToAgent(agentId, { from: 'alice', body: 'hello there' });
    const reply = await waitFor(
      () => sessionMessages(r).find((m) => m.entry === 'reply' && m.replyTo === sent.id),
      'the reply mirrored to the relay',
    );
    expect(reply.body).toBe('Echo: hello there');
    expect(r.deliveries.filter((d) => d.messageId === sent.id).map((d) => d.state)).toEqual(['queued', 'injected', 'consumed', 'finished']);
    // The prompt echo comes before the reply, both correlated to the message.
    const entries = sessionMessages(r).filter((m) => m.replyTo === sent.id).map((m) => m.entry);
    expect(entries[0]).toBe('prompt');
    expect(entries.at(-1)).toBe('reply');
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the turn');
    const statuses = r.relay.statuses(agentId).map((s) => s.status.state);
    expect(statuses).toContain('busy');
    expect(statuses.at(-1)).toBe('idle');
  });

  it('claims a task, strips the claim-it-yourself guidance, and completes it when the turn ends', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, {
      from: 'lead',
      body: 'Claim it yourself before you start.\nbuild the thing',
      taskId: 'task-42',
    });
    await waitFor(() => r.relay.tasks().find((t) => t.taskId === 'task-42' && t.status === 'completed'), 'task completed');
    const events = r.relay.listEvents({ kind: 'task_status' }).map((e) => (e as { payload?: { status?: string } }).payload?.status ?? JSON.stringify(e));
    expect(events.join(',')).toMatch(/in_progress.*completed/);
    expect(r.relay.tasks().find((t) => t.taskId === 'task-42')?.messageId).toBe(sent.id);
    const reply = sessionMessages(r).find((m) => m.entry === 'reply' && m.replyTo === sent.id);
    expect(reply?.body).toBe('Echo: build the thing');
  });

  it('an owed reply makes the Stop decision block; send --reply-to clears it', async () => {
    rig = await startRig({ obligationRefreshMs: 200, provider: demoWithClaudeHooks() });
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'what is 2+2?', expectsReply: true });
    await waitFor(() => r.deliveries.some((d) => d.messageId === sent.id && d.state === 'consumed'), 'consumed');
    const stopPayload = { hook_event_name: 'Stop', session_id: 's', transcript_path: '/tmp/t.jsonl', stop_hook_active: false };
    const blocked = await waitFor(async () => {
      const res = await r.control('POST', '/hooks/stop', stopPayload);
      return res.status === 200 ? res : undefined;
    }, 'a blocking Stop decision');
    const decision = blocked.json() as { decision: string; reason: string };
    expect(decision.decision).toBe('block');
    expect(decision.reason).toContain(`--reply-to ${sent.id}`);
    // With stop_hook_active the hook must never block (no loops).
    const again = await r.control('POST', '/hooks/stop', { ...stopPayload, stop_hook_active: true });
    expect(again.status).toBe(204);

    const send = await r.control('POST', '/send', { to: 'alice', body: '4', replyTo: sent.id });
    expect(send.status).toBe(200);
    // Cleared locally at once, before the relay has even seen the reply.
    const after = await r.control('POST', '/hooks/stop', stopPayload);
    expect(after.status).toBe(204);
    await waitFor(() => r.relay.obligations(r.runner.agentId!).length === 0, 'obligation cleared on the relay');
    const answer = r.relay.listMessages().find((m) => m.kind === 'message' && m.replyTo === sent.id);
    expect(answer).toMatchObject({ from: 'worker-1', to: 'alice', body: '4' });
  });

  it('restarts a killed provider and resumes the same session', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const first = await waitFor(() => r.timeline.find((t) => t.event === 'provider.session'), 'first session');
    const started = r.timeline.find((t) => t.event === 'provider.started');
    process.kill(started!.data!.pid as number, 'SIGKILL');
    const decision = await waitFor(() => r.timeline.find((t) => t.event === 'provider.restart_decision'), 'a restart decision');
    expect(decision.data).toMatchObject({ action: 'restart', signal: 'SIGKILL' });
    const resumed = await waitFor(
      () => r.timeline.find((t) => t.event === 'provider.session' && t.data?.source === 'resume'),
      'the resumed session',
    );
    expect(resumed.data?.sessionId).toBe(first.data?.sessionId);
    // And it still works.
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'still there?' });
    await waitFor(() => sessionMessages(r).find((m) => m.entry === 'reply' && m.replyTo === sent.id), 'reply after restart');
    expect(r.relay.timeline(r.runner.agentId!).some((t) => t.event === 'provider.restart_decision')).toBe(true);
  });

  it('gives up on a provider that keeps dying', async () => {
    rig = await startRig({ exitPolicy: { maxRapidExits: 2, baseDelayMs: 20, maxDelayMs: 50 } });
    const r = rig;
    await r.runner.start();
    for (let i = 0; i < 3; i++) {
      const starts = r.timeline.filter((t) => t.event === 'provider.started');
      const pid = starts.at(-1)!.data!.pid as number;
      process.kill(pid, 'SIGKILL');
      if (i < 2) await waitFor(() => r.timeline.filter((t) => t.event === 'provider.started').length > starts.length, `restart ${i + 1}`);
    }
    await waitFor(() => r.runner.status.state === 'error', 'status error');
    expect(r.runner.status.detail).toMatch(/giving up/);
    const decisions = r.timeline.filter((t) => t.event === 'provider.restart_decision').map((t) => t.data?.action);
    expect(decisions).toEqual(['restart', 'restart', 'give_up']);
  });

  it('stops on a bus command and answers it', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    await waitFor(() => r.runner.connected, 'bus connected');
    const outcome = await r.relay.commands.send(r.runner.agentId!, 'stop');
    expect(outcome).toMatchObject({ ok: true });
    await waitFor(() => r.runner.status.state === 'offline', 'offline after stop');
    const decision = r.timeline.find((t) => t.event === 'provider.restart_decision');
    expect(decision?.data).toMatchObject({ action: 'none' });
  });

  it('answers log-level and unknown commands over the bus', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    await waitFor(() => r.runner.connected, 'bus connected');
    expect(await r.relay.commands.send(r.runner.agentId!, 'set_log_level', { level: 'warn' })).toMatchObject({ ok: true });
    expect(r.logger.getLevel()).toBe('warn');
    expect(await r.relay.commands.send(r.runner.agentId!, 'set_log_level', { level: 'loud' })).toMatchObject({ ok: false });
    expect(await r.relay.commands.send(r.runner.agentId!, 'dance')).toMatchObject({ ok: false, error: 'unknown command dance' });
  });

  it('catches up from unread after the bus drops', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    await waitFor(() => r.runner.connected, 'bus connected');
    await r.relay.faults.down();
    r.relay.faults.dropBus();
    await waitFor(() => !r.runner.connected, 'bus noticed the drop');
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'sent while you were away' });
    await r.relay.faults.up();
    await waitFor(() => sessionMessages(r).find((m) => m.entry === 'reply' && m.replyTo === sent.id), 'caught-up reply', 30_000);
    expect(r.deliveries.filter((d) => d.messageId === sent.id && d.state === 'queued')).toHaveLength(1);
  });

  it('recovers from a token expired mid-run', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    r.relay.faults.expireToken(r.runner.agentId!);
    await r.runner.send({ to: 'alice', body: 'after expiry' });
    await waitFor(() => r.relay.listMessages().find((m) => m.body === 'after expiry'), 'message delivered with a renewed token');
    expect(r.logger.lines().some((l) => l.includes('token renewed') || l.includes('registering again'))).toBe(true);
  });

  it('keeps everything while the relay is down mid-turn and mirrors it all, in order, after it returns', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'work hard [slow:600] [tool:grep]' });
    await waitFor(() => r.deliveries.some((d) => d.messageId === sent.id && d.state === 'consumed'), 'consumed');
    await r.relay.faults.down();
    await waitFor(() => r.mirrors.some((m) => m.entry === 'reply' && m.replyTo === sent.id), 'the reply produced while down');
    expect((await r.runner.outboxStats()).pending).toBeGreaterThan(0);
    // Back up, but the first batch's answer is lost after the relay applied it: the runner must
    // retry that batch under the same idempotency keys, or the relay stores the entries twice.
    r.relay.faults.loseResponseAfterApply(1, { path: '/v1/events/batch' });
    await r.relay.faults.up();
    await waitFor(async () => (await r.runner.outboxStats()).pending === 0, 'outbox drained', 30_000);
    const relayed = sessionMessages(r).filter((m) => m.replyTo === sent.id);
    const local = r.mirrors.filter((m) => m.replyTo === sent.id);
    expect(relayed.map((m) => `${m.entry}:${m.body}`)).toEqual(local.map((m) => `${m.entry}:${m.body}`));
    expect(relayed.map((m) => m.entry)).toEqual(expect.arrayContaining(['prompt', 'reasoning', 'tool', 'reply']));
    // Exactly once: every accepted session event of this turn is stored once, under one key each.
    const events = r.relay
      .listEvents({ agentId: r.runner.agentId!, kind: 'session' })
      .filter((e) => (e.payload as { replyTo?: string } | null)?.replyTo === sent.id);
    expect(events).toHaveLength(local.length);
    expect(new Set(events.map((e) => e.idempotencyKey)).size).toBe(events.length);
  });

  it('writes an owner-only runner info file without secrets', async () => {
    rig = await startRig();
    const r = rig;
    const infoFile = join(r.dir, 'info', 'runner.json');
    await r.close();
    rig = await startRig({ infoFile });
    await rig.runner.start();
    const text = await readFile(infoFile, 'utf8');
    const info = JSON.parse(text) as Record<string, unknown>;
    expect(info).toMatchObject({ name: 'worker-1', agentId: rig.runner.agentId, pid: process.pid, provider: 'demo' });
    expect(text).not.toContain('control-token-for-tests');
    expect(text).not.toContain(rig.relay.apiKey);
    expect((await stat(infoFile)).mode & 0o777).toBe(0o600);
  });
});
