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
