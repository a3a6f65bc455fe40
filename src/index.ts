/**
 * agent-relay-runner: run one AI coding agent as a participant on an Agent Relay server.
 * @packageDocumentation
 */
export * from './errors/index.js';
export * from './ports/index.js';
export { createSystemClock } from './adapters/system-clock.js';
export { createFileLogger, createSilentLogger, type FileLogger, type FileLoggerOptions } from './adapters/tslog-logger.js';
export { createChildProcessSpawner, type ChildProcessSpawnerOptions } from './adapters/child-process-spawner.js';
export { createDemoProvider, DEMO_AGENT_SCRIPT_PATH, type DemoProviderOptions } from './providers/demo.js';
