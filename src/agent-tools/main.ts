#!/usr/bin/env node
/**
 * Entry of the relay tools' MCP server (stdio), started by the agent's CLI from the registration
 * the runner gives it (`relayToolsServer` in src/providers/kit/relay-tools.ts). stdout is the MCP
 * channel: nothing else may be written there.
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createRelayToolsServer, relayToolsEndpointFromEnv } from './relay-tools-server.js';
import { PACKAGE_VERSION } from '../version.js';

const server = createRelayToolsServer({ endpoint: relayToolsEndpointFromEnv(process.env), version: PACKAGE_VERSION });
// The client closing stdin is the end of the session: exit even with keep-alive sockets open.
process.stdin.on('end', () => process.exit(0));
server.connect(new StdioServerTransport()).catch((error: unknown) => {
  process.stderr.write(`agent-relay relay tools: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
