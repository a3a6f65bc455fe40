/**
 * Test kit for hosts and adapters: fake clock, reference relay server, conformance suites.
 * @packageDocumentation
 */
export { createFakeClock, type FakeClock } from './fake-clock.js';
export { createMemoryLogger, type MemoryLogger, type MemoryLoggerOptions, type MemoryLogEntry } from './memory-logger.js';
export { runClockConformance, type ClockHarness, type ConformanceTestApi } from './conformance/clock.js';
export { runLoggerConformance, type LoggerHarness } from './conformance/logger.js';
export { runProcessSpawnerConformance, type ProcessSpawnerHarness, type ProcessSpawnerConformanceOptions } from './conformance/process-spawner.js';
export {
  runProviderConformance,
  type ProviderConformanceSetup,
  type ProviderConformanceOptions,
} from './conformance/provider.js';
export {
  createRelayDevServer,
  type RelayDevServer,
  type RelayDevServerOptions,
  type RelayDevServerFaults,
  type DevCommandOutcome,
  type ReceivedStatus,
  type FaultMatch,
  type DevServerEvent,
  type MessageFilter,
  type NewAttachment,
} from './relay-dev-server/index.js';
// The ports and value types the test kit's signatures mention, so `./testing` stands on its own.
export type * from '../ports/index.js';
export * from '../protocol/relay-agents.js';
export * from '../protocol/relay-messages.js';
export * from '../protocol/relay-events.js';
export * from '../protocol/relay-permissions.js';
export * from '../protocol/relay-bus.js';
export { runOutboxStoreConformance, type OutboxStoreHarness } from './conformance/outbox-store.js';
export { createMemoryOutboxStore } from '../adapters/memory-outbox-store.js';
export {
  createFakeOpenAIServer,
  type FakeOpenAIServer,
  type FakeOpenAIServerOptions,
  type FakeOpenAIScript,
  type FakeOpenAIResponse,
  type FakeOpenAIOutput,
  type FakeOpenAIRequest,
  type FakeOpenAICall,
} from './fake-openai-server.js';
export {
  createFakeAnthropicServer,
  type FakeAnthropicServer,
  type FakeAnthropicServerOptions,
  type FakeAnthropicScript,
  type FakeAnthropicResponse,
  type FakeAnthropicBlock,
  type FakeAnthropicRequest,
  type FakeAnthropicCall,
} from './fake-anthropic-server.js';
