/**
 * An Electron main process that embeds one runner: the runner talks HTTP through Electron's
 * `net.fetch` (the app's proxy settings, certificates and session apply), a window shows the
 * runner's live monitor page, and quitting the app stops the runner first.
 *
 * Run (from an app that depends on agent-relay-runner and packages this file as its main):
 *   AGENT_RELAY_URL=https://relay.example AGENT_RELAY_API_KEY=… electron main.js
 * Packaging notes (asarUnpack for hooks/ and provider-scripts/, bundling the main process):
 * docs/embedding.md, "Electron". Type-checked in CI against the `electron` package's types
 * (`npm run typecheck`); an app imports from 'agent-relay-runner' instead of '../../src/index.js'.
 */
import { sep } from 'node:path';
import { app, BrowserWindow, net } from 'electron';
import { createDemoProvider, createRunner, DEMO_AGENT_SCRIPT_PATH, type Runner } from '../../src/index.js';

/**
 * Files the runner hands to other processes (the demo agent script here; the Claude Code hooks
 * with the Claude providers) must be real files: inside the asar archive only this process can read
 * them. `asarUnpack` puts them in `app.asar.unpacked`, beside the archive.
 */
const unpacked = (path: string): string => path.replace(`${sep}app.asar${sep}`, `${sep}app.asar.unpacked${sep}`);

const relayUrl = process.env['AGENT_RELAY_URL'];
const apiKey = process.env['AGENT_RELAY_API_KEY'];
if (!relayUrl || !apiKey) throw new Error('set AGENT_RELAY_URL and AGENT_RELAY_API_KEY');

let runner: Runner | undefined;
/** Set once the runner has stopped, so the second `before-quit` (from our own app.quit()) passes. */
let stopped = false;

app.on('before-quit', (event) => {
  if (stopped || !runner) return;
  // Hold the quit until the runner has drained its outbox and ended the agent's process.
  event.preventDefault();
  const stopping = runner;
  runner = undefined;
  void stopping
    .stop()
    .catch((error: unknown) => console.error('runner stop failed:', error))
    .finally(() => {
      stopped = true;
      app.quit();
    });
});
app.on('window-all-closed', () => app.quit());

await app.whenReady();
runner = createRunner({
  name: 'electron-agent',
  relayUrl,
  apiKey,
  // The demo provider runs its script with ELECTRON_RUN_AS_NODE=1 (process.execPath is this app).
  provider: createDemoProvider({ scriptPath: unpacked(DEMO_AGENT_SCRIPT_PATH) }),
  // net.fetch takes a string or a Request; the runner may pass a URL.
  fetch: (input, init) => net.fetch(input instanceof URL ? input.href : input, init),
});
runner.on('status', (status) => console.log(`agent status: ${status.state}`));
await runner.start();

const window = new BrowserWindow({ width: 1000, height: 720, title: `agent ${runner.agentId ?? ''}` });
// A one-time login link: the page sets its own session cookie, so the window needs no token.
await window.loadURL(runner.monitorLink().url);
