/**
 * The control port as a port: a provider-neutral route table. The loopback server (SPEC §8)
 * owns transport, authentication, body caps and validation; whoever registers a route (the
 * runner for its own endpoints, a provider for its hooks) owns what the route means.
 */

/**
 * One problem a body schema found: a message and the path of the offending field.
 * @remarks The shape of a Standard Schema (https://standardschema.dev) issue, so any schema
 * library that implements it (valibot, zod, …) can describe a route's body.
 * @public
 */
export interface ControlBodyIssue {
  /** What is wrong, e.g. `must be a string`, `is required`. */
  readonly message: string;
  /** Where: object keys / array indexes from the body's root, bare or as `{ key }` segments. */
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

/**
 * The result of validating a body: the typed value, or the issues found.
 * @public
 */
export type ControlBodyResult<T> = { readonly value: T; readonly issues?: undefined } | { readonly issues: ReadonlyArray<ControlBodyIssue> };

/**
 * A schema for a route's JSON body, as a Standard Schema (valibot and zod schemas fit as they are).
 * @public
 */
export interface ControlBodySchema<T> {
  /** The Standard Schema interface. */
  readonly '~standard': {
    /** Standard Schema version (1). */
    readonly version: 1;
    /** Library that made the schema. */
    readonly vendor: string;
    /** Validate an unknown value (the parsed JSON body). */
    readonly validate: (value: unknown) => ControlBodyResult<T> | Promise<ControlBodyResult<T>>;
  };
}

/**
 * What a route answers.
 * @public
 */
export interface ControlResponse {
  /** HTTP status (200, 204, …). */
  status: number;
  /** JSON body (serialised by the server); omitted or undefined for none. */
  body?: unknown;
}

/**
 * Per-request context of a route handler.
 * @public
 */
export interface ControlRouteContext {
  /** Aborted when the caller gave up (e.g. a hook's curl timed out) or the server closed: decide nothing late. */
  signal: AbortSignal;
}

/**
 * One control-port endpoint.
 * @remarks The handler only ever sees a body its schema accepted (a rejected body is a 400 with
 * a one-line reason). A thrown error becomes a 500 with a generic message: the message is logged,
 * never sent. Handlers must answer promptly unless they say otherwise (a hook waits on them).
 * @public
 */
export interface ControlRoute<B = unknown> {
  /** HTTP method. */
  method: 'GET' | 'POST';
  /** Exact path, e.g. `/hooks/stop` (no query string, no trailing slash). */
  path: string;
  /** Schema of the JSON body (POST only). Without one, a POST body must still be a JSON object. */
  body?: ControlBodySchema<B>;
  /** Answer the request. */
  handle(body: B, context: ControlRouteContext): ControlResponse | Promise<ControlResponse>;
}

/**
 * The routes of a control port, changeable at runtime.
 * @public
 */
export interface ControlRoutes {
  /**
   * Add a route; returns the function that removes it again (idempotent).
   * @throws `InvalidArgumentError` when the method and path are already taken.
   */
  addRoute<B>(route: ControlRoute<B>): () => void;
}
