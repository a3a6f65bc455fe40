/**
 * agent-relay-runner: run one AI coding agent as a participant on an Agent Relay server.
 * @packageDocumentation
 */
export * from './errors/index.js';
export * from './ports/index.js';
export { createSystemClock } from './adapters/system-clock.js';
