import { afterEach, describe, it, expect } from 'vitest';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDemoProvider, type ProviderAdapter, type ProviderTurn } from '../../src/index.js';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';
import { pidAlive } from '../../src/adapters/pid.js';

/**
 * Issue 10, items 1, 2 and 5, with the real reference relay and the real demo agent process:
 * a message survives the agent's death, the Stop decision only demands what the agent was shown,
 * and the runner follows a relay that forgot it.
 */

/** The demo provider, recording every turn the runner writes to it. */
function recordingDemo(turns: ProviderTurn[]): ProviderAdapter {
  const demo = createDemoProvider();
  return {
    name: demo.name,
    capabilities: demo.capabilities,
    checkVersion: (deps) => demo.checkVersion(deps),
    async start(launch, deps) {
      const session = await demo.start(launch, deps);
      const deliver = session.deliver.bind(session);
      session.deliver = (turn) => (turns.push(turn), deliver(turn));
      return session;
    },
  };
}

function providerPid(rig: Rig): number {
  const started = rig.timeline.filter((e) => e.event === 'provider.started').at(-1);
  return started?.data?.['pid'] as number;
}


const rigs: Rig[] = [];
const relays: RelayDevServer[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0).reverse()) await rig.close();
  for (const relay of relays.splice(0)) await relay.close();
});

describe('a message dies with the agent no more (issue 10, item 1)', () => {
  it('the agent killed mid-turn gets the message again, marked as a retry; the task stays in_progress; read only once answered', async () => {
    const turns: ProviderTurn[] = [];
    const rig = await startRig({ provider: recordingDemo(turns), exitPolicy: { baseDelayMs: 100 } });
    rigs.push(rig);
    await rig.runner.start();
    const agentId = rig.runner.agentId!;
    const firstPid = providerPid(rig);
    const asked = rig.relay.sendToAgent(agentId, { from: 'alice', body: '[slow:4000] what is 2+2', expectsReply: true, taskId: 'task-1' });
    await waitFor(() => rig.deliveries.some((d) => d.messageId === asked.id && d.state === 'consumed'), 'the first attempt consumed');
    await waitFor(() => rig.relay.tasks().find((t) => t.taskId === 'task-1')?.status === 'in_progress', 'the task claimed');
    expect(rig.relay.unread(agentId).map((m) => m.id)).toEqual([asked.id]);

    process.kill(firstPid, 'SIGKILL');
    await waitFor(() => providerPid(rig) !== firstPid, 'the provider restarted');
    await waitFor(() => turns.filter((t) => t.sender?.messageId === asked.id).length === 2, 'the retry delivered');
    const retry = turns.filter((t) => t.sender?.messageId === asked.id)[1]!;
    expect(retry.sender?.retry).toBe(true);
    expect(retry.text).toContain('your previous attempt at this message was interrupted');
    expect(rig.relay.tasks().find((t) => t.taskId === 'task-1')?.status).toBe('in_progress');

    await waitFor(() => rig.mirrors.some((m) => m.entry === 'reply' && m.replyTo === asked.id), 'the answer', 20_000);
    await waitFor(() => rig.relay.unread(agentId).length === 0, 'the message marked read');
    await waitFor(() => rig.relay.tasks().find((t) => t.taskId === 'task-1')?.status === 'completed', 'the task completed');
    expect(rig.mirrors.filter((m) => m.entry === 'reply' && m.replyTo === asked.id)).toEqual([{ entry: 'reply', body: 'Echo: what is 2+2', replyTo: asked.id }]);
    expect(rig.relay.tasks().find((t) => t.taskId === 'task-1')?.status).toBe('completed');
  }, 40_000);

  it('a runner stopped mid-turn leaves the message unread, and the next runner on the same data dir delivers it as a retry', async () => {
    const turns: ProviderTurn[] = [];
    const first = await startRig({ provider: recordingDemo(turns) });
    rigs.push(first);
    await first.runner.start();
    const asked = first.relay.sendToAgent('worker-1', { from: 'alice', body: '[slow:3000] still there?', expectsReply: true });
    await waitFor(() => first.deliveries.some((d) => d.messageId === asked.id && d.state === 'consumed'), 'consumed by the first runner');
    await first.runner.stop();
    expect(first.relay.unread('worker-1').map((m) => m.id)).toEqual([asked.id]);

    const secondTurns: ProviderTurn[] = [];
    const second = await startRig({ provider: recordingDemo(secondTurns), relayUrl: first.relay.url, apiKey: first.relay.apiKey, dataDir: join(first.dir, 'data') });
    rigs.push(second);
    await second.runner.start();
    await waitFor(() => second.mirrors.some((m) => m.entry === 'reply' && m.replyTo === asked.id), 'answered by the second runner', 20_000);
    expect(secondTurns.filter((t) => t.sender?.messageId === asked.id).map((t) => t.sender?.retry)).toEqual([true]);
    await waitFor(() => first.relay.unread('worker-1').length === 0, 'marked read');
  }, 40_000);
});

describe('the obligations view and the Stop decision (issue 10, item 2)', () => {
  it('three messages sent while the agent is busy: only the one it was shown is owed now', async () => {
    const rig = await startRig({ obligationRefreshMs: 200 });
    rigs.push(rig);
    await rig.runner.start();
    const ids = ['[slow:5000] first', 'second', 'third'].map((body) => rig.relay.sendToAgent('worker-1', { from: 'alice', body, expectsReply: true }).id);
    await waitFor(() => rig.deliveries.some((d) => d.messageId === ids[0] && d.state === 'consumed'), 'the first consumed');
    const view = await waitFor(async () => {
      const body = (await rig.control('GET', '/obligations')).json() as { items: Array<{ messageId: string; shown: boolean }> };
      return body.items.length === 3 ? body : undefined;
    }, 'three obligations in the view');
    expect(view.items.map((o) => [o.messageId, o.shown])).toEqual([
      [ids[0], true],
      [ids[1], false],
      [ids[2], false],
    ]);
  }, 30_000);
});

describe('the relay forgets the agent (issue 10, item 5)', () => {
  it('a relay restarted without its state: the runner registers again, follows the new id and answers again', async () => {
    const infoFile = join(tmpdir(), `arr-info-${process.pid}-${Date.now()}.json`);
    const rig = await startRig({ infoFile });
    rigs.push(rig);
    await rig.runner.start();
    const oldId = rig.runner.agentId!;
    const port = rig.relay.port;
    await rig.relay.close();
    const fresh = await createRelayDevServer({ port, apiKey: rig.relay.apiKey });
    relays.push(fresh);
    await waitFor(() => rig.runner.agentId !== oldId && rig.runner.connected, 'the runner registered again and connected', 20_000);
    const newId = rig.runner.agentId!;
    expect(fresh.listAgents().map((a) => a.id)).toEqual([newId]);
    await waitFor(() => fresh.statuses(newId).length > 0, 'the status re-sent to the new relay');
    await waitFor(async () => (JSON.parse(await readFile(infoFile, 'utf8')) as { agentId: string }).agentId === newId, 'the info file names the new id');
    await rm(infoFile, { force: true });
    expect(rig.runner.status.state).toBe('idle');
    const asked = fresh.sendToAgent(newId, { from: 'alice', body: 'are you back?', expectsReply: true });
    await waitFor(() => rig.mirrors.some((m) => m.entry === 'reply' && m.replyTo === asked.id), 'answered after the relay came back');
  }, 40_000);

  it('when registering again fails too, the status says error with the reason, and recovers when the relay takes it', async () => {
    const rig = await startRig();
    rigs.push(rig);
    await rig.runner.start();
    const oldId = rig.runner.agentId!;
    const port = rig.relay.port;
    await rig.relay.close();
    const refusing = await createRelayDevServer({ port, apiKey: 'another-workspace-key' });
    await waitFor(() => rig.runner.status.state === 'error', 'status error', 20_000);
    expect(rig.runner.status.detail).toMatch(/registering again failed/);
    await refusing.close();
    const fresh = await createRelayDevServer({ port, apiKey: rig.relay.apiKey });
    relays.push(fresh);
    await waitFor(() => rig.runner.status.state === 'idle' && rig.runner.agentId !== oldId && rig.runner.connected, 'recovered', 20_000);
  }, 40_000);

  it('a start that failed because the relay was down leaves nothing running, and succeeds once the relay is back', async () => {
    const rig = await startRig();
    rigs.push(rig);
    await rig.relay.faults.down();
    await expect(rig.runner.start()).rejects.toMatchObject({ code: 'RELAY_UNAVAILABLE' });
    expect(rig.runner.controlUrl).toBeUndefined();
    await rig.relay.faults.up();
    await rig.runner.start();
    expect(rig.runner.agentId).toBeDefined();
    await waitFor(() => rig.runner.connected, 'connected');
    expect((await rig.control('GET', '/status')).status).toBe(200);
  }, 30_000);

  it('a start that failed on an unwritable info file leaves no provider, control port or bus running', async () => {
    const rig = await startRig();
    rigs.push(rig);
    // A file where the info file's directory should be: unwritable for every user, root included.
    const blocked = join(rig.dir, 'not-a-dir');
    await writeFile(blocked, '');
    const failing = await startRig({ infoFile: join(blocked, 'runner.json'), relayUrl: rig.relay.url, apiKey: rig.relay.apiKey, dataDir: join(rig.dir, 'data2') });
    rigs.push(failing);
    await expect(failing.runner.start()).rejects.toThrow();
    const pid = providerPid(failing);
    expect(pid).toBeGreaterThan(0);
    await waitFor(() => !pidAlive(pid), 'the provider process gone');
    expect(failing.runner.controlUrl).toBeUndefined();
    await waitFor(() => rig.relay.busConnections(failing.runner.agentId!) === 0, 'no bus connection left');
  }, 30_000);
});
