/**
 * The monitor page in a real headless Chromium (Debian's `chromium`, driven by playwright-core;
 * no browser is ever downloaded): a reference relay, a runner with the demo provider, the page
 * opened through a one-time link, a message from another relay agent followed from queued to
 * answered, a pending permission request, a narrow window, and the refusals (wrong, reused or
 * absent code; wrong token). Skips itself, saying why, only when /usr/bin/chromium is absent.
 *
 * The screenshot goes to a temp dir; `UPDATE_MONITOR_SCREENSHOT=1` writes it to docs/monitor.png
 * (and the narrow window to docs/monitor-narrow.png).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startRig, waitFor, type Rig } from '../helpers/rig.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(`monitor-page.test.ts SKIPPED: ${CHROMIUM} is absent. Install Debian's chromium (apt-get install -y chromium); .ci/run installs it when missing.`);
}
/** No network on this machine: nothing in the background may try to reach one. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic'];
const WAIT = { timeout: 15_000 };

let rig: Rig;
let context: BrowserContext;
let page: Page;
let profileDir: string;
let shotDir: string;

/** Register a second agent on the relay and send the runner's agent a message from it, over HTTP. */
async function sendAsAlice(body: string): Promise<string> {
  const headers = { 'content-type': 'application/json', 'x-relay-protocol': '1' };
  const registered = await fetch(`${rig.relay.url}/v1/agents`, {
    method: 'POST',
    headers: { ...headers, authorization: `Bearer ${rig.relay.apiKey}` },
    body: JSON.stringify({ name: 'alice', provider: 'human', runnerVersion: '0', metadata: {} }),
  });
  const { token } = (await registered.json()) as { token: string };
  const sent = await fetch(`${rig.relay.url}/v1/messages`, {
    method: 'POST',
    headers: { ...headers, authorization: `Bearer ${token}` },
    body: JSON.stringify({ kind: 'message', to: 'worker-1', body, expectsReply: true, occurredAt: Date.now(), idempotencyKey: `alice:${body}` }),
  });
  expect(sent.status).toBe(201);
  return ((await sent.json()) as { message: { id: string } }).message.id;
}

// In-page snippets are plain JavaScript strings: the test project has no DOM types.

/** Record every earlier `data-state` of each delivery row (a MutationObserver in the page). */
const RECORD_STATES = `(() => {
  window.__states = {};
  new MutationObserver((records) => {
    for (const record of records) {
      const row = record.target;
      if (!row.classList.contains('delivery') || record.attributeName !== 'data-state') continue;
      (window.__states[row.dataset.messageId] ??= []).push(record.oldValue ?? '');
    }
  }).observe(document.getElementById('deliveries'), { subtree: true, attributes: true, attributeOldValue: true, attributeFilter: ['data-state'] });
})()`;

/** Every `data-state` a delivery row took, in order. */
async function statesOf(messageId: string): Promise<string[]> {
  return page.evaluate(`(() => {
    const row = document.querySelector('.delivery[data-message-id=' + ${JSON.stringify(JSON.stringify(messageId))} + ']');
    const olds = (window.__states[${JSON.stringify(messageId)}] ?? []).filter((s) => s !== '');
    return row && row.dataset.state ? [...olds, row.dataset.state] : olds;
  })()`);
}

/** Open the event stream from the page (no cookie: nothing may open or arrive). */
const streamAttempt = (url: string) => `new Promise((resolve) => {
  let opened = false;
  let messages = 0;
  const ws = new WebSocket(${JSON.stringify(url)});
  ws.onopen = () => (opened = true);
  ws.onmessage = () => (messages += 1);
  ws.onclose = () => resolve({ opened, messages });
})`;

describe.skipIf(!haveChromium)('monitor page in headless Chromium', () => {
  beforeAll(async () => {
    rig = await startRig();
    await rig.runner.start();
    profileDir = await mkdtemp(join(tmpdir(), 'arr-chromium-'));
    shotDir = await mkdtemp(join(tmpdir(), 'arr-shot-'));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: 1180, height: 940 },
    });
    page = context.pages()[0] ?? (await context.newPage());
  });

  afterAll(async () => {
    await context?.close().catch(() => {});
    await rig?.close();
    if (profileDir) await rm(profileDir, { recursive: true, force: true });
    if (shotDir) await rm(shotDir, { recursive: true, force: true });
  });

  it('logs in through a one-time link, follows a message from queued to answered, shows a pending permission, fits a narrow window', async () => {
    const controlUrl = rig.runner.controlUrl!;
    const link = rig.runner.monitorLink();
    expect(link.url).toMatch(new RegExp(`^${controlUrl}/monitor/login\\?code=[A-Za-z0-9_-]{40,}$`));

    const landed = await page.goto(link.url);
    expect(landed?.status()).toBe(200);
    // The address bar carries no secret, and the session cookie is out of the page's reach.
    expect(page.url()).toBe(`${controlUrl}/monitor`);
    expect(await page.evaluate('document.cookie')).toBe('');
    const cookies = await context.cookies(`${controlUrl}/monitor`);
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/monitor' });

    await page.waitForSelector('#live.ok', WAIT);
    expect(await page.textContent('#agent-name')).toBe('worker-1');
    await page.waitForSelector('#state[data-state="idle"]', WAIT);
    await page.waitForSelector('#bus.ok', WAIT);
    await page.waitForSelector('#outbox [data-key="delivered"]', WAIT);
    expect(await page.textContent('#status')).toContain('open subagents');

    await page.evaluate(RECORD_STATES);

    const first = await sendAsAlice('[tool:Read] Please summarise the README');
    const row = `.delivery[data-message-id="${first}"]`;
    await page.waitForSelector(`${row}[data-state="consumed"]`, WAIT);
    expect(await page.textContent(`${row} .from`)).toBe('alice');
    expect(await page.textContent(`${row} .excerpt`)).toContain('Please summarise the README');
    // The demo agent's turn is mirrored; then it answers through its control port, exactly what
    // `agent-relay-runner send --to alice --reply-to <id>` does.
    await page.waitForSelector('#mirror .entry:has-text("Echo: Please summarise the README")', WAIT);
    await waitFor(() => rig.runner.status.state === 'idle', 'the agent to go idle');
    const answer = await rig.control('POST', '/send', { to: 'alice', body: 'It says: run npm run demo.', replyTo: first });
    expect(answer.status).toBe(200);
    await page.waitForSelector(`${row}[data-state="answered"]`, WAIT);
    expect(await statesOf(first)).toEqual(['queued', 'injected', 'consumed', 'answered']);
    expect(await page.locator(`${row} .step.done`).count()).toBe(4);
    expect(await page.textContent('#timeline')).not.toBe('');

    // A turn that asks for permission: the request waits on the relay and shows on the page.
    const second = await sendAsAlice('[permission:Bash] Run the test suite');
    await page.waitForSelector('#permissions .permission:has-text("Bash")', WAIT);
    expect(await page.isHidden('#permissions-empty')).toBe(true);
    await page.waitForSelector(`.delivery[data-message-id="${second}"][data-state="consumed"]`, WAIT);
    await page.waitForSelector('#state[data-state="busy"]', WAIT);

    // Outbox health is pushed as it changes: the mirror entries and the answer reach the relay.
    await waitFor(async () => Number(await page.textContent('#outbox [data-key="delivered"] dd')) > 0, 'delivered events on the page');
    for (const key of ['pending', 'oldest pending', 'retries', 'poisoned', 'shed']) expect(await page.locator(`#outbox [data-key="${key}"]`).count()).toBe(1);

    const shot = join(shotDir, 'monitor.png');
    await page.screenshot({ path: shot, fullPage: true });
    const png = await readFile(shot);
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    if (process.env.UPDATE_MONITOR_SCREENSHOT === '1') await copyFile(shot, join(import.meta.dirname, '../../docs/monitor.png'));

    const request = await waitFor(() => rig.relay.permissions(rig.runner.agentId!).find((p) => p.status === 'pending'), 'the permission request on the relay');
    rig.relay.decidePermission(request.id, { behavior: 'allow', decidedBy: 'alice' });
    await page.waitForSelector('#permissions-empty', { state: 'visible', ...WAIT });
    expect(await page.locator('#permissions .permission').count()).toBe(0);

    // A narrow window: one column, nothing wider than the screen.
    await page.setViewportSize({ width: 360, height: 800 });
    expect(await page.evaluate('document.documentElement.scrollWidth - window.innerWidth')).toBeLessThanOrEqual(0);
    if (process.env.UPDATE_MONITOR_SCREENSHOT === '1') await page.screenshot({ path: join(import.meta.dirname, '../../docs/monitor-narrow.png') });
    const lefts = await page.evaluate(`[...document.querySelectorAll('.panel')].slice(0, 2).map((p) => p.getBoundingClientRect().left)`);
    expect(lefts).toEqual([expect.any(Number), expect.any(Number)]);
    const [a, b] = lefts as number[];
    expect(a).toBe(b);
  });

  it('a used, wrong or absent code, and a wrong token, get no data', async () => {
    const controlUrl = rig.runner.controlUrl!;
    const link = rig.runner.monitorLink();
    expect((await page.goto(link.url))?.status()).toBe(200);
    await context.clearCookies();

    const reused = await page.goto(link.url);
    expect(reused?.status()).toBe(403);
    expect(await context.cookies(`${controlUrl}/monitor`)).toEqual([]);
    expect((await page.goto(`${controlUrl}/monitor/login?code=not-a-code`))?.status()).toBe(403);
    expect((await page.goto(`${controlUrl}/monitor/login`))?.status()).toBe(403);
    const page401 = await page.goto(`${controlUrl}/monitor`);
    expect(page401?.status()).toBe(401);
    expect(await page.textContent('body')).toContain('one-time login link');
    expect((await page.goto(`${controlUrl}/monitor/app.js`))?.status()).toBe(401);

    // Without the cookie (or with a wrong token) the event stream opens nothing and sends nothing.
    const wsBase = controlUrl.replace(/^http/, 'ws');
    expect(await page.evaluate(streamAttempt(`${wsBase}/monitor`))).toEqual({ opened: false, messages: 0 });
    expect(await page.evaluate(streamAttempt(`${wsBase}/monitor?token=wrong-token`))).toEqual({ opened: false, messages: 0 });
  });
});
