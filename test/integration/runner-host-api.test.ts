/**
 * What an orchestrator drives on a runner without going through the relay (issue 13, item 4):
 * its name, interrupt / restart / log level, status events on change only, outbox trouble as
 * events, and `Symbol.asyncDispose`. Real reference relay, real demo agent process.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../src/core/status.js';
import type { RunnerOutboxEvent } from '../../src/core/runner.js';
import type { LocalPermissionAnswer, LocalPermissionRequest } from '../../src/core/permissions.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';

const rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) await rig.close();
});
async function rig(): Promise<Rig> {
  const r = await startRig();
  rigs.push(r);
  return r;
}
const withoutActivity = ({ lastActivityAt: _at, ...rest }: AgentStatus) => rest;

describe('a runner an orchestrator can drive (issue 13, item 4)', () => {
  it('has its name; interrupt, restart and setLogLevel work locally and refuse before start', async () => {
    const r = await rig();
    expect(r.runner.name).toBe('worker-1');
    await expect(r.runner.interrupt()).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(r.runner.restart()).rejects.toMatchObject({ code: 'CLOSED' });
    await r.runner.start();

    r.runner.setLogLevel('warn');
    expect(r.logger.getLevel()).toBe('warn');
    expect(() => r.runner.setLogLevel('loud' as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(r.logger.getLevel()).toBe('warn');
    r.runner.setLogLevel('debug');

    // A long turn is interrupted from the host, and the agent takes the next message afterwards.
    const slow = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'take your time [slow:20000]' });
    await waitFor(() => r.deliveries.some((d) => d.messageId === slow.id && d.state === 'consumed'), 'slow turn consumed');
    await r.runner.interrupt();
    await waitFor(() => r.runner.status.state === 'idle', 'idle after the interrupt');

    // A restart from the host resumes the same session.
    const sessionId = r.runner.status.sessionId;
    const started = r.timeline.filter((t) => t.event === 'provider.started').length;
    await r.runner.restart();
    await waitFor(() => r.timeline.filter((t) => t.event === 'provider.started').length === started + 1, 'a second provider start');
    expect(r.timeline.filter((t) => t.event === 'provider.started').at(-1)?.data).toMatchObject({ resumed: true });
    expect(sessionId).toBeDefined();
    const next = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'still there?' });
    await waitFor(() => r.mirrors.some((m) => m.entry === 'reply' && m.replyTo === next.id), 'a reply after the restart');
  });

  it('emits status on change only: activity alone (tool steps, reasoning) does not fire the event', async () => {
    const r = await rig();
    await r.runner.start();
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'busy work [tool:read_file] [tool:grep] [tool:edit]' });
    await waitFor(() => r.mirrors.some((m) => m.entry === 'reply' && m.replyTo === sent.id), 'the reply');
    await waitFor(() => r.runner.status.state === 'idle', 'idle');
    const states = r.statuses.map((s) => s.state);
    expect(states).toContain('busy');
    // Each emitted status differs from the one before it in something besides lastActivityAt.
    for (let i = 1; i < r.statuses.length; i++) {
      expect(withoutActivity(r.statuses[i]!), `status event ${i} repeats ${JSON.stringify(r.statuses[i])}`).not.toEqual(withoutActivity(r.statuses[i - 1]!));
    }
  });

  it('forwards outbox trouble as `outbox` events: a retry, then a permanent rejection', async () => {
    const r = await rig();
    const events: RunnerOutboxEvent[] = [];
    r.runner.on('outbox', (event) => events.push(event));
    await r.runner.start();
    r.relay.faults.failNext(1, 503, { path: '/events' });
    await r.runner.send({ to: 'alice', body: 'through a 503' });
    await waitFor(() => events.some((e) => e.type === 'retry'), 'a retry event');
    await waitFor(() => r.relay.listMessages().some((m) => m.body === 'through a 503'), 'delivered after the retry');
    expect(events.find((e) => e.type === 'retry')).toMatchObject({ type: 'retry', status: 503 });

    r.relay.faults.failNextItems(1, 422);
    await r.runner.send({ to: 'alice', body: 'refused for good' });
    await waitFor(() => events.some((e) => e.type === 'rejected'), 'a rejected event');
    expect(events.find((e) => e.type === 'rejected')).toMatchObject({ type: 'rejected', status: 422, kind: 'message' });
  });

  it('Symbol.asyncDispose stops the runner', async () => {
    const r = await rig();
    await r.runner.start();
    await r.runner[Symbol.asyncDispose]();
    expect(r.runner.status.state).toBe('offline');
    expect(() => r.runner.monitorLink()).toThrow();
    await expect(r.runner.restart()).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('a local permission callback decides first, and can defer to the relay (issue 13, item 4)', () => {
  const replyTo = (r: Rig, id: string) => r.relay.listMessages({ kind: 'session' }).find((m) => m.entry === 'reply' && m.replyTo === id);
  async function withCallback(answer: (request: LocalPermissionRequest) => LocalPermissionAnswer | Promise<LocalPermissionAnswer>): Promise<{ r: Rig; seen: LocalPermissionRequest[] }> {
    const seen: LocalPermissionRequest[] = [];
    const r = await startRig({
      onPermissionRequest: (request) => {
        seen.push(request);
        return answer(request);
      },
    });
    rigs.push(r);
    await r.runner.start();
    return { r, seen };
  }

  it('an allow from the host reaches the provider, and the relay never sees the request', async () => {
    const { r, seen } = await withCallback(() => ({ behavior: 'allow' }));
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'deploy [permission:Bash]' });
    expect((await waitFor(() => replyTo(r, sent.id), 'reply')).body).toBe('permission allowed');
    expect(seen).toEqual([expect.objectContaining({ tool: 'Bash' })]);
    expect(r.relay.permissions(r.runner.agentId!)).toEqual([]);
  });

  it('a deny from the host carries its reason', async () => {
    const { r } = await withCallback(async () => ({ behavior: 'deny', message: 'not from this host' }));
    const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body: 'rm it [permission:Bash]' });
    expect((await waitFor(() => replyTo(r, sent.id), 'reply')).body).toBe('permission denied: not from this host');
  });

  it("'relay' (and a callback that throws) defers to the relay, which decides as usual", async () => {
    let calls = 0;
    const { r } = await withCallback(() => {
      calls++;
      if (calls === 1) return 'relay';
      throw new Error('host bug');
    });
    for (const body of ['first [permission:Bash]', 'second [permission:Bash]']) {
      const sent = r.relay.sendToAgent(r.runner.agentId!, { from: 'alice', body });
      const request = await waitFor(() => r.relay.permissions(r.runner.agentId!).find((p) => p.status === 'pending'), 'a pending request at the relay');
      r.relay.decidePermission(request.id, { behavior: 'allow', decidedBy: 'bob' });
      expect((await waitFor(() => replyTo(r, sent.id), 'reply')).body).toBe('permission allowed');
    }
    expect(calls).toBe(2);
    expect(r.logger.entries.some((rec) => rec.level === 'warn' && /permission callback threw/.test(rec.message))).toBe(true);
  });
});

describe('stop({ timeoutMs, signal }) bounds the wait on a hung relay (issue 13, item 4)', () => {
  for (const how of ['timeoutMs', 'signal'] as const) {
    it(`with ${how}: stop returns while the relay hangs, and what it had not taken stays stored`, async () => {
      const store = createMemoryOutboxStore();
      const r = await startRig({ store });
      rigs.push(r);
      const retries: RunnerOutboxEvent[] = [];
      r.runner.on('outbox', (event) => event.type === 'retry' && retries.push(event));
      await r.runner.start();
      r.relay.faults.hung(true);
      await r.runner.send({ to: 'alice', body: 'never taken' });
      const controller = new AbortController();
      const stopping = r.runner.stop(how === 'timeoutMs' ? { timeoutMs: 200 } : { signal: controller.signal });
      if (how === 'signal') controller.abort();
      // Without the bound, stop waits for the hung request to time out (a retry event) and more.
      await stopping;
      expect(retries).toEqual([]);
      expect(r.runner.status.state).toBe('offline');
      await expect(store.counts()).resolves.toMatchObject({ pending: 1 });
      r.relay.faults.hung(false);
    });
  }

  it('a bad timeoutMs is an InvalidArgumentError', async () => {
    const r = await rig();
    await expect(r.runner.stop({ timeoutMs: Number.NaN })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
