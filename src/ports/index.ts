export type * from './clock.js';
export type * from './outbox-store.js';
export type * from './logger.js';
export { LOG_LEVELS } from './logger.js';
export type * from './process-spawner.js';
export type * from './provider.js';
export type * from './relay-http.js';
export { RELAY_PROTOCOL_VERSION, RELAY_PROTOCOL_HEADER } from './relay-http.js';
export type * from './relay-bus.js';
