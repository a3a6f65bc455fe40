/**
 * A relay outage long enough to spend the outbox's byte budget: the agent's own messages are never
 * dropped to make room; the next one is refused at once, visibly, at every door (runner.send, the
 * control port, the CLI), and everything accepted is delivered once the relay is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';
import { cleanEnv, ensureBuilt, runCli } from './cli-helpers.js';

const TOKEN = 'control-token-for-tests'; // what startRig gives the runner
let rig: Rig;

beforeAll(async () => {
  await ensureBuilt();
  rig = await startRig({ outbox: { baseDelayMs: 50, maxDelayMs: 500, pollIntervalMs: 200, maxBytes: 6000 } });
  await rig.runner.start();
}, 240_000);

afterAll(async () => {
  await rig?.close();
});

describe('outbox byte budget spent during an outage', () => {
  it('refuses the next message with OUTBOX_FULL (runner.send, 507 at the control port, CLI exit 1), drops none, delivers all after', async () => {
    const r = rig;
    const errors: Error[] = [];
    r.runner.on('error', (e) => errors.push(e));
    await r.relay.faults.down();
    const accepted: string[] = [];
    let refusal: unknown;
    for (let i = 0; i < 200 && !refusal; i++) {
      const body = `note ${i} ${'x'.repeat(100)}`;
      await r.runner.send({ to: 'alice', body }).then(() => accepted.push(body), (e: unknown) => (refusal = e));
    }
    expect(refusal).toMatchObject({ code: 'OUTBOX_FULL' });
    expect(accepted.length).toBeGreaterThan(5);

    const direct = await r.control('POST', '/send', { to: 'alice', body: `one more ${'x'.repeat(200)}` });
    expect(direct.status).toBe(507);
    expect(direct.json()).toMatchObject({ code: 'OUTBOX_FULL', error: expect.stringMatching(/^outbox is full: its byte budget of 6000 bytes is spent/) as unknown });

    const port = new URL(r.runner.controlUrl!).port;
    const cli = await runCli(['send', '--to', 'alice', `from the cli ${'x'.repeat(200)}`], { env: cleanEnv({ AGENT_RELAY_RUNNER_PORT: port, AGENT_RELAY_RUNNER_TOKEN: TOKEN }) });
    expect(cli.code).toBe(1);
    expect(cli.stdout).toBe('');
    expect(cli.stderr).toMatch(/\(507\): outbox is full/);

    await r.relay.faults.up();
    const atRelay = () => r.relay.listMessages().filter((m) => m.kind === 'message' && m.to === 'alice').map((m) => m.body);
    await waitFor(async () => (await r.runner.outboxStats()).pending === 0 && atRelay().length >= accepted.length, 'every accepted message at the relay', 30_000);
    expect(atRelay()).toEqual(accepted);
    expect((await r.runner.outboxStats()).shed).toBe(0);
    await expect(r.runner.send({ to: 'alice', body: 'room again' })).resolves.toMatchObject({ seq: expect.any(Number) as unknown });
  });
});
