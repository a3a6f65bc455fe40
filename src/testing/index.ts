/**
 * Test kit for hosts and adapters: fake clock, reference relay server, conformance suites.
 * @packageDocumentation
 */
export { createFakeClock, type FakeClock } from './fake-clock.js';
