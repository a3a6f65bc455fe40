import { describe, it, expect } from 'vitest';
import { Inbox, type InboxDeps } from '../../src/core/inbox.js';
import type { DeliveryEvent } from '../../src/core/delivery.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { RelayHttpError } from '../../src/errors/index.js';
import type { ProviderTurn } from '../../src/ports/provider.js';
import type { RelayAttachment, RelayMessage } from '../../src/ports/relay-http.js';

function relayMessage(id: string, extra: Partial<RelayMessage> = {}): RelayMessage {
  return { id, seq: 1, kind: 'message', from: 'alice', to: 'worker-1', body: `hello ${id}`, expectsReply: false, occurredAt: 0, createdAt: 0, attachments: [], ...extra };
}

const attachment = (name: string, size: number): RelayAttachment => ({ id: `att-${name}`, name, size, mediaType: 'text/plain', url: `/v1/attachments/att-${name}` });

function setup(overrides: Partial<InboxDeps> = {}) {
  const clock = createFakeClock();
  const logger = createMemoryLogger({ level: 'debug' });
  const written: ProviderTurn[] = [];
  const events: DeliveryEvent[] = [];
  const calls: string[] = [];
  const saved: string[] = [];
  const gaveUp: string[] = [];
  let unread: RelayMessage[] = [];
  let obligations = 0;
  const provider: { session: { deliver(turn: ProviderTurn): Promise<void> } | undefined; sessionId: string | undefined } = {
    session: { deliver: async (turn) => void written.push(turn) },
    sessionId: undefined,
  };
  let refusedOnce = false;
  const inbox = new Inbox({
    clock,
    logger,
    auth: {
      agentId: 'agent-1',
      async withAuth(call) {
        try {
          return await call();
        } catch (error) {
          if ((error as { code?: string }).code !== 'RELAY_AUTH') throw error;
          calls.push('recover');
          return call();
        }
      },
    },
    http: {
      async pollUnread(agentId) {
        calls.push(`poll ${agentId}`);
        if (!refusedOnce) {
          refusedOnce = true;
          throw new RelayHttpError(401, 'token expired');
        }
        const list = unread;
        unread = [];
        return list;
      },
      async markRead(agentId, ids) {
        calls.push(`read ${ids.join(',')}`);
        return ids.length;
      },
      async downloadAttachment(url, options) {
        calls.push(`download ${url} max ${options?.maxBytes}`);
        return new TextEncoder().encode(url);
      },
    },
    maxAttachmentBytes: 1000,
    saveAttachment: async (messageId, name) => {
      saved.push(`${messageId}/${name}`);
      return `/cache/${messageId}/${name}`;
    },
    provider,
    contextBlock: () => 'CONTEXT',
    onState: (event) => events.push(event),
    onObligation: () => void obligations++,
    onGiveUp: async (message, reason) => void gaveUp.push(`${message.id}: ${reason}`),
    ...overrides,
  });
  return {
    clock, logger, inbox, written, events, calls, saved, provider, gaveUp,
    setUnread: (list: RelayMessage[]) => (unread = list),
    obligations: () => obligations,
  };
}

describe('inbox (delivery from the relay)', () => {
  it('accepts a relay message, writes it as a turn and counts an owed reply', async () => {
    const t = setup();
    await t.inbox.accept(relayMessage('m1', { expectsReply: true, taskId: 'task-1' }));
    expect(t.written).toHaveLength(1);
    expect(t.written[0]?.sender).toEqual({ from: 'alice', messageId: 'm1', expectsReply: true, taskId: 'task-1' });
    expect(t.events.map((e) => e.state)).toEqual(['queued', 'injected']);
    expect(t.obligations()).toBe(1);
    // The relay may send it again (bus and catch-up): delivered once.
    await t.inbox.accept(relayMessage('m1', { expectsReply: true }));
    expect(t.written).toHaveLength(1);
    expect(t.obligations()).toBe(1);
  });

  it('ignores session-mirror entries and anything after stop()', async () => {
    const t = setup();
    await t.inbox.accept(relayMessage('s1', { kind: 'session' }));
    t.inbox.stop();
    await t.inbox.accept(relayMessage('m1'));
    await t.inbox.catchUp();
    expect(t.written).toEqual([]);
    expect(t.calls).toEqual([]);
  });

  it('downloads attachments within the size cap through the relay port and lists their paths', async () => {
    const t = setup();
    await t.inbox.accept(relayMessage('m1', { attachments: [attachment('small.txt', 10), attachment('huge.bin', 5000)] }));
    expect(t.calls).toEqual(['download /v1/attachments/att-small.txt max 1000']);
    expect(t.saved).toEqual(['m1/small.txt']);
    expect(t.written[0]?.text).toContain('Attachments (local files):\n- /cache/m1/small.txt');
    expect(t.logger.lines().some((l) => l.includes('skipped huge.bin (5000 bytes > 1000)'))).toBe(true);
  });

  it('a failed download is logged and the message still delivered, without attachments', async () => {
    const t = setup({ saveAttachment: () => Promise.reject(new Error('disk full')) });
    await t.inbox.accept(relayMessage('m1', { attachments: [attachment('a.txt', 10)] }));
    expect(t.written).toHaveLength(1);
    expect(t.written[0]?.text).not.toContain('Attachments');
    expect(t.logger.lines().some((l) => l.includes('WARN [attachments] message m1: disk full'))).toBe(true);
  });

  it('catches up on unread messages with the shared auth recovery, and marks finished ones read', async () => {
    const t = setup();
    t.setUnread([relayMessage('m1'), relayMessage('m2')]);
    await t.inbox.catchUp();
    expect(t.calls).toEqual(['poll agent-1', 'recover', 'poll agent-1']);
    expect(t.written.map((w) => w.sender?.messageId)).toEqual(['m1', 'm2']);
    t.inbox.turnStarted({ deliveryId: t.written[0]!.deliveryId });
    expect(t.calls.filter((c) => c.startsWith('read'))).toEqual([]);
    t.inbox.turnEnded();
    await t.clock.advanceAsync(0);
    expect(t.calls.at(-1)).toBe('read m1');
  });

  it('holds turns while no provider session is up, then writes them in order', async () => {
    const t = setup();
    const session = t.provider.session;
    t.provider.session = undefined;
    await t.inbox.accept(relayMessage('m1'));
    t.inbox.acceptPrompt('first prompt');
    expect(t.written).toEqual([]);
    t.provider.session = session;
    await t.inbox.queue.pump();
    expect(t.written.map((w) => w.sender?.messageId)).toEqual(['m1', `initial-${t.clock.now()}`]);
    expect(t.written[1]?.text.endsWith('first prompt')).toBe(true);
  });

  it('prepends the context block once per session, also across a session that was named late', async () => {
    const t = setup();
    await t.inbox.accept(relayMessage('m1'));
    t.provider.sessionId = 'sess-1';
    t.inbox.sessionNamed('sess-1', true);
    await t.inbox.accept(relayMessage('m2'));
    t.provider.sessionId = 'sess-2';
    t.inbox.sessionNamed('sess-2', false);
    await t.inbox.accept(relayMessage('m3'));
    expect(t.written.map((w) => w.text.startsWith('CONTEXT'))).toEqual([true, false, true]);
  });

  it('leaves the context block out when the relay turned it off', async () => {
    const t = setup({ contextBlock: () => undefined });
    await t.inbox.accept(relayMessage('m1'));
    expect(t.written[0]?.text.startsWith('[relay message m1 from alice')).toBe(true);
  });
});
