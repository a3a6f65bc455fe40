import { afterEach, describe, expect, it } from 'vitest';
import { readFile, stat } from 'node:fs/promises';
import { demoWithClaudeHooks, startRig, waitFor, type Rig } from '../helpers/rig.js';

let rig: Rig | undefined;
afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const replyTo = (r: Rig, id: string) =>
  r.relay.listMessages({ kind: 'session' }).find((m) => m.entry === 'reply' && m.replyTo === id);

describe('runner: permission relay', () => {
  it('a request approved remotely reaches the provider', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'deploy [permission:Bash]' });
    const request = await waitFor(() => r.relay.permissions(r.runner.agentId!).find((p) => p.status === 'pending'), 'a pending request');
    expect(request.tool).toBe('Bash');
    r.relay.decidePermission(request.id, { behavior: 'allow', decidedBy: 'bob' });
    expect((await waitFor(() => replyTo(r, sent.id), 'reply')).body).toBe('permission allowed');
  });

  it('a request denied remotely carries the reason to the provider', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'rm it [permission:Bash]' });
    const request = await waitFor(() => r.relay.permissions(r.runner.agentId!).find((p) => p.status === 'pending'), 'a pending request');
    r.relay.decidePermission(request.id, { behavior: 'deny', message: 'not on a Friday' });
    expect((await waitFor(() => replyTo(r, sent.id), 'reply')).body).toBe('permission denied: not on a Friday');
  });

  it('times out with a clear deny, and a late decision is ignored, never applied', async () => {
    rig = await startRig({ permissionTimeoutMs: 300 });
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'push [permission:Bash]' });
    const reply = await waitFor(() => replyTo(r, sent.id), 'reply after timeout');
    expect(reply.body).toMatch(/^permission denied: no permission decision from the relay within 300 ms$/);
    const request = r.relay.permissions(r.runner.agentId!)[0]!;
    r.relay.decidePermission(request.id, { behavior: 'allow' });
    await waitFor(() => r.logger.lines().some((l) => l.includes(`ignored a decision for ${request.requestId}`)), 'late decision logged');
    // Nothing new was asked of the provider: still exactly one reply for that message.
    expect(r.relay.listMessages({ kind: 'session' }).filter((m) => m.entry === 'reply' && m.replyTo === sent.id)).toHaveLength(1);
  });
});

describe('runner: status, attachments, hooks, insights, liveness', () => {
  it('counts subagents so the agent is busy while they run', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'fan out [subagent]' });
    await waitFor(() => replyTo(r, sent.id), 'reply');
    await waitFor(() => r.runner.status.state === 'idle', 'idle');
    expect(r.statuses.some((s) => s.state === 'busy' && s.openSubagents === 1)).toBe(true);
    expect(r.statuses.at(-1)).toMatchObject({ state: 'idle', openSubagents: 0 });
  });

  it('downloads attachments to an owner-only cache with safe names and references them by path', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, {
      from: 'alice',
      body: 'see attached',
      attachments: [{ name: '../../etc/passwd is "mine".txt', content: 'hello file' }],
    });
    const prompt = await waitFor(() => r.deliveries.find((d) => d.messageId === sent.id && d.state === 'consumed'), 'consumed');
    expect(prompt).toBeTruthy();
    const turnLog = r.logger.lines().join('\n');
    expect(turnLog).not.toContain('attachments] message');
    const reply = await waitFor(() => replyTo(r, sent.id), 'reply');
    // The demo agent echoes the last line of the turn: the attachment's local path.
    const path = /- (\/\S+)$/.exec(reply.body)?.[1];
    expect(path, reply.body).toBeTruthy();
    expect(path).toContain(`${r.dir}/data/attachments/`);
    expect(path!.split('/').at(-1)).toBe('__.._etc_passwd_is__mine_.txt');
    expect(await readFile(path!, 'utf8')).toBe('hello file');
    expect((await stat(path!)).mode & 0o777).toBe(0o600);
  });

  it('a hook failure is logged FATAL and queued to the relay', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const res = await r.control('POST', '/hooks/fatal', { hook: 'stop', line: 12, exitCode: 127, command: 'curl -sS http://x' });
    expect(res.status).toBe(204);
    expect(r.logger.lines().some((l) => /FATAL \[hook\] stop failed at line 12 \(exit 127\)/.test(l))).toBe(true);
    await waitFor(() => r.relay.listEvents({ kind: 'hook_fatal' }).length === 1, 'hook_fatal at the relay');
  });

  it('posts a context_ratio insight when the session ends', async () => {
    rig = await startRig();
    const r = rig;
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'look [tool:grep] [tool:edit]' });
    await waitFor(() => replyTo(r, sent.id), 'reply');
    await r.runner.stop();
    const insight = r.relay.listEvents({ kind: 'insight' })[0];
    expect(insight?.payload).toMatchObject({ type: 'context_ratio', data: { gather: 1, act: 1, ratio: 0.5 } });
  });

  it('sends HTTP heartbeats while the bus is down and reports connected honestly', async () => {
    rig = await startRig({ heartbeatMs: 100 });
    const r = rig;
    await r.runner.start();
    await waitFor(() => r.runner.connected, 'connected');
    const before = r.relay.stats().requests;
    r.relay.faults.dropBus();
    // Keep the bus down: refuse bus upgrades by failing them while HTTP still answers.
    r.relay.faults.failNext(1000, 503, { path: /\/v1\/bus/ });
    await waitFor(() => !r.runner.connected, 'disconnected');
    await waitFor(() => r.logger.lines().some((l) => l.includes('[bus] disconnected')), 'disconnect logged');
    const seenBefore = r.relay.listAgents()[0]!.lastSeenAt;
    await waitFor(() => r.relay.listAgents()[0]!.lastSeenAt > seenBefore, 'a heartbeat moved lastSeenAt');
    expect(r.relay.stats().requests).toBeGreaterThan(before);
  });
});

describe('runner: failed start', () => {
  it('a provider that cannot start fails start() with a ProviderError and leaves nothing running', async () => {
    const { createDemoProvider } = await import('../../src/providers/demo/provider.js');
    rig = await startRig({ provider: createDemoProvider({ scriptPath: '/nonexistent/demo-agent.mjs' }) });
    const r = rig;
    const error = await r.runner.start().catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('PROVIDER');
    // Give a leftover bus time to connect, then check none did.
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(r.relay.busConnections()).toBe(0);
    expect(r.runner.controlUrl === undefined || (await fetch(r.runner.controlUrl).catch(() => 'refused')) === 'refused').toBe(true);
  });
});

describe('runner: subagent hooks', () => {
  it('counts subagents reported by the SubagentStart/Stop hooks, also for a provider whose turns come from stdout', async () => {
    rig = await startRig({ provider: demoWithClaudeHooks() });
    const r = rig;
    await r.runner.start();
    const base = { session_id: 's1', transcript_path: '/tmp/t.jsonl', cwd: r.dir };
    expect((await r.control('POST', '/hooks/subagent-start', { ...base, hook_event_name: 'SubagentStart', agent_id: 'a1', agent_type: 'Explore' })).status).toBe(204);
    expect(r.runner.status).toMatchObject({ state: 'busy', openSubagents: 1 });
    expect((await r.control('POST', '/hooks/subagent-stop', { ...base, hook_event_name: 'SubagentStop', agent_id: 'a1', stop_hook_active: false })).status).toBe(204);
    expect(r.runner.status).toMatchObject({ state: 'idle', openSubagents: 0 });
  });
});
