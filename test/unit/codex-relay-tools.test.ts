import { describe, expect, it } from 'vitest';
import { mcpServerArgs } from '../../src/providers/codex/config.js';
import { createCodexProvider } from '../../src/providers/codex/provider.js';
import { createFakeClock } from '../../src/testing/fake-clock.js';
import { createMemoryLogger } from '../../src/testing/memory-logger.js';
import { createFakeAppServer } from '../helpers/fake-codex-app-server.js';

const TOKEN = 'control-token-never-on-argv';

/** The `-c key=value` pairs of an argument list, as a map. */
function overrides(args: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  args.forEach((arg, i) => {
    if (arg !== '-c') return;
    const pair = args[i + 1] ?? '';
    const eq = pair.indexOf('=');
    map.set(pair.slice(0, eq), pair.slice(eq + 1));
  });
  return map;
}

describe('Codex: the relay tools MCP server registration', () => {
  it('names the secrets in env_vars, keeps only non-secret variables in env, pre-approves the tools', () => {
    const args = mcpServerArgs(
      'relay',
      { command: '/usr/bin/node', args: ['/pkg/dist/agent-tools/main.js'], env: { AGENT_RELAY_RUNNER_TOKEN: TOKEN, AGENT_RELAY_RUNNER_PORT: '4711', ELECTRON_RUN_AS_NODE: '1' } },
      ['AGENT_RELAY_RUNNER_PORT', 'AGENT_RELAY_RUNNER_TOKEN'],
    );
    expect(args.join(' ')).not.toContain(TOKEN);
    expect(args.join(' ')).not.toContain('4711');
    const c = overrides(args);
    expect(c.get('mcp_servers.relay.command')).toBe('"/usr/bin/node"');
    expect(c.get('mcp_servers.relay.args')).toBe('["/pkg/dist/agent-tools/main.js"]');
    expect(c.get('mcp_servers.relay.env_vars')).toBe('["AGENT_RELAY_RUNNER_PORT", "AGENT_RELAY_RUNNER_TOKEN"]');
    expect(c.get('mcp_servers.relay.env')).toBe('{ "ELECTRON_RUN_AS_NODE" = "1" }');
    expect(c.get('mcp_servers.relay.default_tools_approval_mode')).toBe('"approve"');
  });

  it('refuses a server name TOML would misread', () => {
    expect(() => mcpServerArgs('re lay', { command: 'x', args: [], env: {} }, [])).toThrow(/invalid MCP server name/);
  });

  it('the provider registers it by default with the token only in the environment, and not when relayTools is false', async () => {
    for (const relayTools of [undefined, false] as const) {
      const server = createFakeAppServer();
      const clock = createFakeClock();
      const adapter = createCodexProvider({ command: 'codex', codexHome: '/nonexistent', ...(relayTools === false ? { relayTools } : {}) });
      const env = { AGENT_RELAY_RUNNER_PORT: '4711', AGENT_RELAY_RUNNER_TOKEN: TOKEN };
      const session = await adapter.start({ cwd: '/tmp', env }, { spawner: server.spawner, logger: createMemoryLogger(), clock });
      const spawn = server.spawns[0]!;
      expect(spawn.args.join(' ')).not.toContain(TOKEN);
      expect(spawn.env?.AGENT_RELAY_RUNNER_TOKEN).toBe(TOKEN);
      const c = overrides(spawn.args);
      if (relayTools === false) {
        expect([...c.keys()].some((k) => k.startsWith('mcp_servers.relay'))).toBe(false);
      } else {
        expect(c.get('mcp_servers.relay.command')).toBe(JSON.stringify(process.execPath));
        expect(c.get('mcp_servers.relay.args')).toMatch(/agent-tools[/\\]main\.(ts|js)"\]$/);
        expect(c.get('mcp_servers.relay.env_vars')).toBe('["AGENT_RELAY_RUNNER_PORT", "AGENT_RELAY_RUNNER_TOKEN"]');
      }
      void session.stop();
    }
  });
});

describe('Codex: the session opens once the relay tools are ready', () => {
  async function open(mcpStartup: 'ready' | 'failed' | 'never') {
    const server = createFakeAppServer({ mcpStartup });
    const clock = createFakeClock();
    const logger = createMemoryLogger({ level: 'debug' });
    const adapter = createCodexProvider({ command: 'codex', codexHome: '/nonexistent' });
    let opened = false;
    const started = adapter.start({ cwd: '/tmp', env: {} }, { spawner: server.spawner, logger, clock }).then((s) => ((opened = true), s));
    return { server, clock, logger, started, isOpen: () => opened };
  }

  it('waits for the relay server to be ready before the session counts as open', async () => {
    const t = await open('ready');
    const session = await t.started;
    const events: string[] = [];
    session.onEvent((e) => events.push(e.type));
    await t.server.settle(); // the backlog is replayed on a microtask
    expect(events).toContain('session');
    expect(t.logger.lines().some((l) => /MCP server relay ready/.test(l))).toBe(true);
    expect(events).not.toContain('warning');
  });

  it('a server that failed to start: the session opens with a warning naming the fallback', async () => {
    const t = await open('failed');
    const session = await t.started;
    const warnings: string[] = [];
    session.onEvent((e) => void (e.type === 'warning' && warnings.push(e.message)));
    await t.server.settle();
    expect(warnings).toEqual([expect.stringMatching(/the relay MCP server \(the agent's relay tools\) is failed: handshake failed; the agent can only answer with the send command/)]);
  });

  it('a server that never reports: the wait is bounded (35 s on the clock), then a warning', async () => {
    const t = await open('never');
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
    expect(t.isOpen()).toBe(false);
    t.clock.advance(34_999);
    await new Promise<void>((r) => setImmediate(r));
    expect(t.isOpen()).toBe(false);
    t.clock.advance(1);
    const session = await t.started;
    const warnings: string[] = [];
    session.onEvent((e) => void (e.type === 'warning' && warnings.push(e.message)));
    await t.server.settle();
    expect(warnings).toEqual([expect.stringMatching(/is not ready within 35000 ms/)]);
  });
});
