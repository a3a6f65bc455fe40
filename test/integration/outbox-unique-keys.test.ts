/**
 * Every accepted event reaches the reference relay, however alike: the default idempotency key is
 * unique to the event (issue 9, item 1). The old key (agent, kind, millisecond, payload hash) made
 * A, B, A in one millisecond collide, and the relay discarded the second A as a duplicate. And
 * over the byte budget only mirror entries are shed, and the relay gets a summary of them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createFetchRelayHttp } from '../../src/adapters/fetch-relay-http.js';
import { createRelayOutboxSend } from '../../src/adapters/relay-outbox-send.js';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createSystemClock } from '../../src/adapters/system-clock.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createOutbox } from '../../src/core/outbox.js';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';

let server: RelayDevServer | undefined;
let rig: Rig | undefined;
afterEach(async () => {
  await server?.close();
  await rig?.close();
  server = undefined;
  rig = undefined;
});

describe('outbox against the reference relay: unique keys, byte budget', () => {
  it('A, B, A in the same millisecond: three events stored, also after a restart in that millisecond', async () => {
    server = await createRelayDevServer();
    const srv = server;
    const setup = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: srv.url, token: () => undefined, apiKey: () => srv.apiKey });
    const reg = await setup.register({ name: 'same-ms' });
    const http = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: srv.url, token: () => reg.token });
    const clock = createFakeClock(); // frozen: every event below happens in one millisecond
    const store = createMemoryOutboxStore();
    const make = () => createOutbox({ store, send: createRelayOutboxSend(http), clock, logger: createMemoryLogger(), agentId: reg.agent.id });
    const first = make();
    for (const body of ['A', 'B', 'A']) await first.enqueue({ kind: 'message', payload: { kind: 'message', to: 'alice', body } });
    await first.drain();
    await first.close();
    const second = make();
    await second.enqueue({ kind: 'message', payload: { kind: 'message', to: 'alice', body: 'A' } });
    await second.drain();
    await second.close();
    const bodies = srv.listMessages().filter((m) => m.kind === 'message' && m.to === 'alice').map((m) => m.body);
    expect(bodies).toEqual(['A', 'B', 'A', 'A']);
  });

  it('100 concurrent runner.send calls in a repeating pattern are all stored', async () => {
    rig = await startRig();
    await rig.runner.start();
    const r = rig;
    const pattern = ['ok', 'done', 'ok', 'ok'];
    await Promise.all(Array.from({ length: 100 }, (_, i) => r.runner.send({ to: 'alice', body: pattern[i % pattern.length]! })));
    const mine = () => r.relay.listMessages().filter((m) => m.kind === 'message' && m.to === 'alice' && m.from === 'worker-1');
    await waitFor(async () => (await r.runner.outboxStats()).pending === 0 && mine().length >= 100, 'every send at the relay');
    expect(mine()).toHaveLength(100);
    expect(mine().filter((m) => m.body === 'done')).toHaveLength(25);
  });

  it('over the byte budget during an outage: mirror entries shed, messages kept, and the shed summary reaches the relay', async () => {
    server = await createRelayDevServer();
    const srv = server;
    const setup = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: srv.url, token: () => undefined, apiKey: () => srv.apiKey });
    const reg = await setup.register({ name: 'shedder' });
    const http = createFetchRelayHttp({ clock: createSystemClock(), baseUrl: srv.url, token: () => reg.token, timeoutMs: 2000 });
    const clock = createFakeClock();
    const outbox = createOutbox({ store: createMemoryOutboxStore(), send: createRelayOutboxSend(http), clock, logger: createMemoryLogger(), agentId: reg.agent.id, maxBytes: 4000 });
    await srv.faults.down();
    for (let i = 0; i < 40; i++) {
      if (i % 8 === 0) await outbox.enqueue({ kind: 'message', payload: { kind: 'message', to: 'alice', body: `m${i}` } });
      else await outbox.enqueue({ kind: 'session', payload: { kind: 'session', entry: 'tool', body: `step ${i}`, to: '' } });
    }
    await outbox.drain(); // refused: the relay is down
    const { shed } = await outbox.stats();
    expect(shed).toBeGreaterThan(0);
    await srv.faults.up();
    clock.advance(120_000); // past the backoff the refused attempt left
    await outbox.drain();
    await outbox.drain(); // the summary, queued once the relay accepted again
    await outbox.close();
    const mine = srv.listEvents({ agentId: reg.agent.id });
    expect(srv.listMessages().filter((m) => m.kind === 'message' && m.to === 'alice').map((m) => m.body)).toEqual(['m0', 'm8', 'm16', 'm24', 'm32']);
    const summary = mine.filter((e) => e.kind === 'insight').map((e) => e.payload as { type: string; data: { rows: number; kinds: Record<string, number> } });
    expect(summary).toHaveLength(1);
    expect(summary[0]).toMatchObject({ type: 'outbox_shed', data: { rows: shed, kinds: { session: shed } } });
    expect(mine.filter((e) => e.kind === 'session')).toHaveLength(35 - shed);
  });
});
