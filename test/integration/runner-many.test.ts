import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRunner, type Runner } from '../../src/create-runner.js';
import { createRelayDevServer, type RelayDevServer } from '../../src/testing/relay-dev-server/index.js';
import { createDemoProvider } from '../../src/providers/demo/provider.js';
import { waitFor } from '../helpers/rig.js';

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {});
  cleanup = [];
});

describe('many runners in one process', () => {
  it('keep separate control ports, log files, stores, levels and messages', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arr-many-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const relay: RelayDevServer = await createRelayDevServer();
    cleanup.push(() => relay.close());
    const runners: Runner[] = [];
    for (const name of ['alpha', 'beta', 'gamma']) {
      const runner = createRunner({
        name,
        relayUrl: relay.url,
        apiKey: relay.apiKey,
        provider: createDemoProvider(),
        cwd: dir,
        dataDir: join(dir, name),
        logDir: join(dir, 'logs'),
        env: { PATH: process.env.PATH ?? '', AGENT_RELAY_LOG_LEVEL: 'info' },
      });
      cleanup.push(() => runner.stop());
      runners.push(runner);
    }
    await Promise.all(runners.map((r) => r.start()));
    const [alpha, beta, gamma] = runners as [Runner, Runner, Runner];
    expect(new Set(runners.map((r) => r.controlUrl)).size).toBe(3);

    const toBeta = relay.sendToAgent(beta.agentId!, { from: 'alice', body: 'only for beta' });
    await waitFor(
      () => relay.listMessages({ kind: 'session' }).find((m) => m.replyTo === toBeta.id && m.entry === 'reply'),
      'beta answered',
    );
    expect(relay.listMessages({ kind: 'session' }).every((m) => m.from === 'beta')).toBe(true);

    // Changing one runner's level leaves the others alone.
    await waitFor(() => gamma.connected, 'gamma connected');
    expect(await relay.commands.send(gamma.agentId!, 'set_log_level', { level: 'debug' })).toMatchObject({ ok: true });
    const levels = await Promise.all(
      runners.map(async (r) => {
        const res = await fetch(`${r.controlUrl}/log-level`, { headers: { authorization: 'Bearer wrong' } });
        return res.status;
      }),
    );
    expect(levels).toEqual([401, 401, 401]); // each port wants its own token

    await alpha.stop();
    await beta.stop();
    await gamma.stop();
    const logs = await Promise.all(['alpha', 'beta', 'gamma'].map((n) => readFile(join(dir, 'logs', `session-mirror-${n}.log`), 'utf8')));
    expect(logs[1]).toContain(`message ${toBeta.id} consumed`);
    expect(logs[0]).not.toContain(toBeta.id);
    expect(logs[2]).toContain('log level set to debug');
    expect(logs[0]).not.toContain('log level set to debug');
  });
});
