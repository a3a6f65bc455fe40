import { describe, expect, it } from 'vitest';
import { MonitorFeed } from '../../src/control/monitor-feed.js';
import { MONITOR_CSS, MONITOR_HTML, MONITOR_JS } from '../../src/control/monitor-page.js';
import type { OutboxStats } from '../../src/core/outbox.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';

function setup() {
  const clock = createFakeClock();
  const published: Array<Record<string, unknown>> = [];
  let clients = 1;
  let connected = true;
  let stats: OutboxStats | undefined = { pending: 0, poisoned: 0, oldestPendingAgeMs: 0, delivered: 0, rejected: 0, shed: 0, retries: 0, nextRetryAt: undefined };
  const feed = new MonitorFeed({
    clock,
    logger: createMemoryLogger(),
    publish: (event) => published.push(event as Record<string, unknown>),
    clients: () => clients,
    outboxStats: () => (stats ? Promise.resolve({ ...stats }) : undefined),
    connected: () => connected,
    agent: () => ({ name: 'worker-1', agentId: 'agt_1', provider: 'demo', version: '0.1.0' }),
  });
  return {
    clock,
    feed,
    published,
    types: () => published.map((e) => e.type),
    setClients: (n: number) => (clients = n),
    setConnected: (v: boolean) => (connected = v),
    setStats: (next: Partial<OutboxStats> | undefined) => (stats = next && stats ? { ...stats, ...next } : undefined),
  };
}

describe('monitor feed', () => {
  it('publishes runner events as {type, [type]: payload} and replays recent ones after the who/link/outbox/permissions snapshot', async () => {
    const t = setup();
    t.feed.record('delivery', { messageId: 'm1', state: 'queued' });
    t.feed.record('status', { state: 'busy' });
    t.feed.record('mirror', { entry: 'prompt', body: 'hi' });
    t.feed.record('permissions', [{ requestId: 'r1' }]);
    t.feed.record('sent', { seq: 1, to: 'alice', replyTo: 'm1' });
    t.feed.record('timeline', { event: 'bus.state' });
    expect(t.published[0]).toEqual({ type: 'delivery', delivery: { messageId: 'm1', state: 'queued' } });
    expect(t.types()).toEqual(['delivery', 'status', 'mirror', 'permissions', 'sent', 'timeline']);
    await t.feed.sample();
    expect(t.feed.backlog()).toEqual([
      { type: 'agent', agent: { name: 'worker-1', agentId: 'agt_1', provider: 'demo', version: '0.1.0' } },
      { type: 'link', link: { connected: true } },
      { type: 'outbox', outbox: expect.objectContaining({ pending: 0 }) },
      { type: 'permissions', permissions: [{ requestId: 'r1' }] },
      { type: 'delivery', delivery: { messageId: 'm1', state: 'queued' } },
      { type: 'sent', sent: { seq: 1, to: 'alice', replyTo: 'm1' } },
      { type: 'mirror', mirror: { entry: 'prompt', body: 'hi' } },
      { type: 'timeline', timeline: { event: 'bus.state' } },
    ]);
  });

  it('keeps a bounded history', () => {
    const t = setup();
    for (let i = 0; i < 400; i++) t.feed.record('delivery', { messageId: `m${i}` });
    for (let i = 0; i < 200; i++) t.feed.record('mirror', { body: `b${i}` });
    const backlog = t.feed.backlog() as Array<{ type: string; delivery?: { messageId: string } }>;
    const deliveries = backlog.filter((e) => e.type === 'delivery');
    expect(deliveries).toHaveLength(300);
    expect(deliveries[0]?.delivery?.messageId).toBe('m100');
    expect(backlog.filter((e) => e.type === 'mirror')).toHaveLength(150);
    expect(backlog.some((e) => e.type === 'permissions')).toBe(true);
  });

  it('samples outbox health and the bus every second while somebody watches, publishing changes only', async () => {
    const t = setup();
    t.feed.start();
    await t.clock.advanceAsync(1000);
    expect(t.types()).toEqual(['link', 'outbox']);
    await t.clock.advanceAsync(1000);
    expect(t.types()).toEqual(['link', 'outbox']);
    t.setStats({ pending: 2, oldestPendingAgeMs: 1500, retries: 1 });
    t.setConnected(false);
    await t.clock.advanceAsync(1000);
    expect(t.published.slice(2)).toEqual([
      { type: 'link', link: { connected: false } },
      { type: 'outbox', outbox: expect.objectContaining({ pending: 2, oldestPendingAgeMs: 1500, retries: 1 }) },
    ]);
    t.setClients(0);
    t.setStats({ pending: 5 });
    await t.clock.advanceAsync(5000);
    expect(t.published).toHaveLength(4);
    t.setClients(1);
    t.feed.stop();
    await t.clock.advanceAsync(5000);
    expect(t.published).toHaveLength(4);
  });

  it('samples nothing before the outbox exists', async () => {
    const t = setup();
    t.setStats(undefined);
    await t.feed.sample();
    expect(t.types()).toEqual(['link']);
  });
});

describe('monitor page assets', () => {
  it('the script is valid JavaScript with no inline code in the page (the CSP forbids it)', () => {
    expect(() => new Function(MONITOR_JS)).not.toThrow();
    expect(MONITOR_HTML).not.toMatch(/<script>|\son[a-z]+=|style=/i);
    expect(MONITOR_HTML).toContain('href="/monitor/app.css"');
    expect(MONITOR_CSS).toContain('@media (max-width: 720px)');
    // Values reach the page as text only.
    expect(MONITOR_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
  });
});
