import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryOutboxStore } from '../../src/adapters/memory-outbox-store.js';
import { createDemoProvider } from '../../src/providers/demo/provider.js';
import type { OutboxStore } from '../../src/ports/outbox-store.js';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';

/** A store that records whether anyone closed it. */
function watchedStore(): OutboxStore & { closes: number } {
  const inner = createMemoryOutboxStore();
  const store = {
    closes: 0,
    append: inner.append.bind(inner),
    list: inner.list.bind(inner),
    update: inner.update.bind(inner),
    remove: inner.remove.bind(inner),
    counts: inner.counts.bind(inner),
    async close() {
      store.closes++;
      await inner.close?.();
    },
  };
  return store;
}

let rigs: Rig[] = [];
afterEach(async () => {
  for (const rig of rigs.splice(0)) await rig.close();
});

describe('who owns what: the runner closes only what it created', () => {
  it('a store and a logger passed in by the host stay open after stop(), and a later runner can use them', async () => {
    const store = watchedStore();
    const first = await startRig({ store });
    rigs.push(first);
    let loggerCloses = 0;
    const close = first.logger.close.bind(first.logger);
    first.logger.close = async () => {
      loggerCloses++;
      await close();
    };
    await first.runner.start();
    await first.runner.send({ to: 'alice', body: 'from the first runner' });
    await first.runner.stop();
    expect(store.closes).toBe(0);
    expect(loggerCloses).toBe(0);
    await expect(store.counts()).resolves.toMatchObject({ pending: 0 });

    // The host hands the same store to the next runner: it still works.
    const second = await startRig({ store, name: 'worker-2' });
    rigs.push(second);
    await second.runner.start();
    await second.runner.send({ to: 'alice', body: 'from the second runner' });
    await waitFor(() => second.relay.listMessages().some((m) => m.body === 'from the second runner'), 'second send delivered');
    await second.runner.stop();
    expect(store.closes).toBe(0);
  });

  it('a failed start does not close the host\'s store either', async () => {
    const store = watchedStore();
    const rig = await startRig({ store, provider: createDemoProvider({ scriptPath: '/nonexistent/demo-agent.mjs' }) });
    rigs.push(rig);
    await expect(rig.runner.start()).rejects.toMatchObject({ code: 'PROVIDER' });
    await rig.runner.stop();
    expect(store.closes).toBe(0);
  });

  it('an error event with no listener does not crash the host', async () => {
    const rig = await startRig({ provider: createDemoProvider({ scriptPath: '/nonexistent/demo-agent.mjs' }) });
    rigs.push(rig);
    expect(rig.runner.listenerCount('error')).toBe(0);
    await expect(rig.runner.start()).rejects.toMatchObject({ code: 'PROVIDER' });
  });

  it('stop() leaves no scratch dir and no runner.json behind in the data dir', async () => {
    const rig = await startRig();
    rigs.push(rig);
    await rig.runner.start();
    const dataDir = join(rig.dir, 'data');
    expect(readdirSync(dataDir)).toEqual(expect.arrayContaining([`scratch-${process.pid}`, 'runner.json']));
    await rig.runner.stop();
    const left = readdirSync(dataDir);
    expect(left.filter((name) => name.startsWith('scratch-') || name === 'runner.json')).toEqual([]);
  });
});
