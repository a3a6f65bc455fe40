import { describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { claudeLaunchArgs, DEFAULT_ALLOWED_TOOLS } from '../../src/providers/claude/common.js';

const env = { AGENT_RELAY_RUNNER_PORT: '4242', AGENT_RELAY_RUNNER_TOKEN: 'secret-control-token-1234', AGENT_RELAY_SCRATCH_DIR: '/data/scratch-7' };
const after = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe('Claude Code launch: the relay tools', () => {
  it('registers the relay MCP server by absolute paths, allows its tools and both send paths, and puts no secret on the command line', () => {
    const args = claudeLaunchArgs('/plugin', DEFAULT_ALLOWED_TOOLS, [], undefined, { relayTools: true, env });
    const config = JSON.parse(after(args, '--mcp-config')!) as { mcpServers: Record<string, { type: string; command: string; args: string[]; env: object; alwaysLoad?: boolean }> };
    expect(Object.keys(config.mcpServers)).toEqual(['relay']);
    const relay = config.mcpServers.relay!;
    expect(relay.type).toBe('stdio');
    expect(relay.command).toBe(process.execPath);
    const entry = relay.args.at(-1)!;
    expect(isAbsolute(entry) && existsSync(entry)).toBe(true);
    expect(entry).toMatch(/agent-tools[\\/]main\.(ts|js)$/);
    expect(relay.env).toEqual({});
    expect(relay.alwaysLoad).toBe(true); // in the prompt from the first turn, not behind tool search
    expect(args.join(' ')).not.toContain('secret-control-token');
    expect(args).not.toContain('--strict-mcp-config');
    expect(after(args, '--allowedTools')).toBe('mcp__relay,Bash(agent-relay-runner send:*),Bash(/data/scratch-7/agent-relay-send:*)');
  });

  it('strict on request; none with relayTools false; a custom allow list is taken as given', () => {
    expect(claudeLaunchArgs(false, [], [], undefined, { relayTools: true, strictMcpConfig: true, env })).toContain('--strict-mcp-config');
    const off = claudeLaunchArgs(false, ['Read'], [], undefined, { relayTools: false, env });
    expect(off).not.toContain('--mcp-config');
    expect(after(off, '--allowedTools')).toBe('Read');
  });
});
