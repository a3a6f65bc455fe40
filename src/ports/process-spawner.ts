/**
 * A stream of text lines from a child's stdout or stderr.
 * @public
 */
export interface LineStream {
  /** Subscribe to each complete line (without its newline). Returns an unsubscribe function. */
  onLine(listener: (line: string) => void): () => void;
}

/**
 * How a child process ended.
 * @public
 */
export interface ProcessExit {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  /** Signal name when killed by one, else null. */
  signal: string | null;
}

/**
 * A running child process, without platform types.
 * @public
 */
export interface SpawnedProcess {
  /** OS process id (undefined if the spawn failed). */
  readonly pid: number | undefined;
  /** Write text to stdin; resolves once handed to the OS. Rejects when stdin is closed. */
  write(text: string): Promise<void>;
  /** Close stdin. */
  endInput(): void;
  /** Lines written to stdout. */
  readonly stdout: LineStream;
  /** Lines written to stderr. */
  readonly stderr: LineStream;
  /** Settles once when the process has exited (never rejects). */
  readonly exited: Promise<ProcessExit>;
  /**
   * Ask the process to stop: `signal` (default SIGTERM), then SIGKILL after `graceMs`
   * (default 5000) if it is still alive. Resolves with the exit.
   * @remarks Started with {@link SpawnRequest.processGroup}, every signal goes to the whole process
   * group, and the SIGKILL at the end of the grace also reaches descendants that outlived the
   * process itself.
   */
  kill(options?: { signal?: string; graceMs?: number }): Promise<ProcessExit>;
}

/**
 * What to start.
 * @public
 */
export interface SpawnRequest {
  /** Executable path or name on PATH. */
  command: string;
  /** Arguments. */
  args: readonly string[];
  /** Working directory. */
  cwd?: string;
  /** Full environment for the child (not merged by the spawner). */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Start the child in a process group of its own (POSIX: a new session, `detached`), so that
   * `kill()` ends it together with every process it started (shells, tools, MCP servers).
   * @remarks The group no longer receives the terminal's Ctrl-C with the host; the host stops it.
   * Spawners that cannot do this (a PTY, a test fake) may ignore it.
   * @defaultValue false
   */
  processGroup?: boolean;
}

/**
 * Starts child processes. The default adapter uses `node:child_process`; a PTY adapter serves
 * interactive TUIs; tests use fakes.
 * @public
 */
export interface ProcessSpawner {
  /** Start a process. Rejects with `ProcessError` if it cannot be started at all. */
  spawn(request: SpawnRequest): Promise<SpawnedProcess>;
}
