import type { Logger } from './ports/logger.js';

/**
 * The agent-side settings of the `AGENT_RELAY_*` family that pass from the host's environment to
 * the provider: they tune the hook scripts the agent runs and carry no authority.
 */
const AGENT_SIDE_SETTINGS: ReadonlySet<string> = new Set([
  'AGENT_RELAY_HOOK_TRANSPORT',
  'AGENT_RELAY_HOOK_TEST_FAIL',
  'AGENT_RELAY_PERMISSION_HOOK_TIMEOUT_S',
]);

/** Shorter secrets are matched by equality only: a substring test would drop innocent values. */
const MIN_SUBSTRING_SECRET = 8;

/**
 * Every secret the runner holds (workspace key, relay tokens, control token, anything a subsystem
 * registered with `logger.addSecret`), so the provider's environment can be built without them.
 */
export interface SecretRegistry {
  /** The secrets seen so far (relay tokens are added as they are granted). */
  readonly secrets: ReadonlySet<string>;
  /** Register one more secret. */
  add(secret: string): void;
  /**
   * The logger with `addSecret` routed through this registry first: whatever any subsystem hides
   * from the log is also kept from the agent. The host's logger is not changed (it stays the host's).
   */
  wrap(logger: Logger): Logger;
}

/** A new, empty {@link SecretRegistry}. */
export function createSecretRegistry(): SecretRegistry {
  const secrets = new Set<string>();
  const add = (secret: string): void => {
    if (typeof secret === 'string' && secret !== '') secrets.add(secret);
  };
  return {
    secrets,
    add,
    wrap: (logger) => {
      const wrapped: Logger = {
        debug: (c, m) => logger.debug(c, m),
        info: (c, m) => logger.info(c, m),
        warn: (c, m) => logger.warn(c, m),
        error: (c, m) => logger.error(c, m),
        fatal: (c, m) => logger.fatal(c, m),
        getLevel: () => logger.getLevel(),
        setLevel: (level) => logger.setLevel(level),
        addSecret: (secret) => {
          add(secret);
          logger.addSecret?.(secret);
        },
      };
      if (logger.close) wrapped.close = () => logger.close!();
      return wrapped;
    },
  };
}

/** What the runner itself sets for the agent, on top of the filtered host environment. */
export interface AgentVariables {
  /** The control port (`AGENT_RELAY_RUNNER_PORT`). */
  port: string;
  /** The control token (`AGENT_RELAY_RUNNER_TOKEN`): good for this runner's control port only. */
  controlToken: string;
  /** `AGENT_RELAY_AGENT_NAME`. */
  name: string;
  /** `AGENT_RELAY_SCRATCH_DIR`. */
  scratchDir: string;
}

/**
 * Build the provider's environment from the host's (policy in docs/embedding.md, "Secrets and the
 * agent's environment"):
 * - every `AGENT_RELAY_*` variable is dropped, except the agent-side hook settings; the runner then
 *   sets its own four (`AGENT_RELAY_RUNNER_PORT`, `_RUNNER_TOKEN`, `_AGENT_NAME`, `_SCRATCH_DIR`);
 * - any variable whose value is, or contains, one of the runner's secrets is dropped, whatever its
 *   name (a key copied to `MY_KEY` or put in a URL is still the key);
 * - `undefined` values are left out.
 * The control token is the only credential the agent gets: it opens this runner's control port and
 * nothing on the relay.
 */
export function buildProviderEnv(
  hostEnv: Readonly<Record<string, string | undefined>>,
  secrets: ReadonlySet<string>,
  own: AgentVariables,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(hostEnv)) {
    if (value === undefined) continue;
    if (name.startsWith('AGENT_RELAY_') && !AGENT_SIDE_SETTINGS.has(name)) continue;
    if (holdsSecret(value, secrets, own.controlToken)) continue;
    env[name] = value;
  }
  env.AGENT_RELAY_RUNNER_PORT = own.port;
  env.AGENT_RELAY_RUNNER_TOKEN = own.controlToken;
  env.AGENT_RELAY_AGENT_NAME = own.name;
  env.AGENT_RELAY_SCRATCH_DIR = own.scratchDir;
  return env;
}

/** Whether `value` is, or contains, a secret other than the control token (which the agent is given anyway). */
function holdsSecret(value: string, secrets: ReadonlySet<string>, controlToken: string): boolean {
  for (const secret of secrets) {
    if (secret === controlToken) continue;
    if (value === secret) return true;
    if (secret.length >= MIN_SUBSTRING_SECRET && value.includes(secret)) return true;
  }
  return false;
}
