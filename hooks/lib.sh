# shellcheck shell=bash
# Shared library of the agent-relay-runner Claude Code hooks. Sourced, never run.
#
# What Claude Code sends and reads (stdin payload fields, stdout JSON, hooks.json layout) is
# summarised with its sources in docs/hooks.md. The rules this file enforces (SPEC §8):
#   - inert without AGENT_RELAY_RUNNER_PORT (each hook checks before sourcing this file);
#   - one bounded HTTP call per hook: the raw Claude payload is posted as is to the control port
#     and the response body is printed verbatim on 2xx, so bash never builds JSON from payload
#     values (the only JSON built here is the fatal report, escaped by ar_json_escape);
#   - every call is bounded by curl --connect-timeout/--max-time AND by a whole-script deadline
#     (AR_BUDGET_MS, 1.8 s), so a hung runner can never hold Claude past 2.5 s;
#   - an unexpected failure trips the ERR trap, which reports to /hooks/fatal (bounded) and exits 0;
#   - hooks always exit 0: a broken runner must never break the agent.
# Runs on bash 3.2 (what macOS ships) and later: no bash-4-only constructs (test/integration/
# hooks-portability.test.ts checks); bash's own /dev/tcp transport needs bash >= 4 for fractional
# read timeouts, so older bash uses curl. Needs only bash, cat and (on old bash) curl: no jq, python
# or node. SIGPIPE is ignored, so a runner that resets the connection makes a write fail (handled)
# instead of killing the hook with status 141. The token never appears in argv:
# curl reads it from a config on fd 3 (a here-string: -K /dev/fd/3), and the body from stdin
# (`@-`). Stdin is read, never re-opened: Claude spawns hooks with a socket as stdin, which
# /dev/fd/0 cannot open.

AR_HOOK=unknown
AR_BUDGET_MS=1800
AR_STATUS=000
AR_BODY=
AR_REQ_BODY=
AR_JSON=

# Milliseconds since the epoch into AR_NOW_MS (no fork; EPOCHREALTIME has six decimals).
ar_now_ms() {
  if [[ -n ${EPOCHREALTIME:-} ]]; then
    local t=${EPOCHREALTIME//[!0-9]/}
    AR_NOW_MS=$((10#$t / 1000))
  else
    AR_NOW_MS=$((SECONDS * 1000))
  fi
}

# Set up a hook: name, [budget ms], base URL, deadline, auth, ERR trap, EXIT trap, watchdog.
# Exits 0 on a bad port. Only the permission hook passes a budget (its wait is long by design).
ar_init() {
  AR_HOOK=$1
  AR_BUDGET_MS=${2:-1800}
  if ! [[ $AGENT_RELAY_RUNNER_PORT =~ ^[0-9]{1,5}$ ]]; then exit 0; fi
  AR_BASE="http://127.0.0.1:${AGENT_RELAY_RUNNER_PORT}"
  ar_now_ms
  AR_DEADLINE_MS=$((AR_NOW_MS + AR_BUDGET_MS))
  # A token with control characters could inject headers; treat it as absent (the runner says 401).
  AR_TOKEN=${AGENT_RELAY_RUNNER_TOKEN:-}
  if [[ $AR_TOKEN == *[[:cntrl:]]* ]]; then AR_TOKEN=; fi
  AR_CURL_CONFIG=
  if [[ -n $AR_TOKEN ]]; then
    local token=${AR_TOKEN//\\/\\\\}
    token=${token//\"/\\\"}
    AR_CURL_CONFIG="header = \"Authorization: Bearer ${token}\""
  fi
  trap '' PIPE
  ar__start_watchdog
  trap ar__on_exit EXIT
  set -E
  trap 'ar__on_err "$?" "$LINENO" "$BASH_COMMAND"' ERR
}

# The last line of defence for the time bound: the per-call limits cover reads, but a connect or
# write to a wedged runner (full accept queue, full socket buffer) could block. 300 ms past the
# deadline a background timer sends TERM (the hook exits 0 through its EXIT trap), then KILL.
# It runs off the critical path; its stdio is detached so Claude never waits on it.
ar__start_watchdog() {
  local ms=$((AR_BUDGET_MS + 300)) secs
  printf -v secs '%d.%03d' $((ms / 1000)) $((ms % 1000))
  (
    trap - ERR EXIT
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$secs" &
    sleeper=$!
    wait "$sleeper"
    kill -TERM "$$"
    sleep 0.2
    kill -KILL "$$"
  ) </dev/null >/dev/null 2>&1 &
  AR_WATCHDOG=$!
  trap 'exit 0' TERM
}

# EXIT trap: the hook's own exit step (the Stop hook's busy fallback), then stop the watchdog.
AR_EXIT_HOOK=
ar__on_exit() {
  trap - ERR TERM
  if [[ -n $AR_EXIT_HOOK ]]; then "$AR_EXIT_HOOK" || :; fi
  if [[ -n ${AR_WATCHDOG:-} ]]; then kill "$AR_WATCHDOG" 2>/dev/null || :; fi
}

# Escape $1 as the inside of a JSON string into AR_JSON: backslash, quote, and every control
# character below 0x20. Non-ASCII (UTF-8) passes through unchanged, which JSON allows.
ar_json_escape() {
  local s=$1 i hex ch
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  if [[ $s == *[[:cntrl:]]* ]]; then
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    s=${s//$'\b'/\\b}
    s=${s//$'\f'/\\f}
    for ((i = 1; i < 32; i++)); do
      printf -v hex '%02x' "$i"
      printf -v ch "\\x${hex}"
      s=${s//"$ch"/\\u00${hex}}
    done
  fi
  AR_JSON=$s
}

# Set AR_MAX_TIME (curl seconds) to min(cap_ms, time left before the deadline); return 1 when
# too little is left to be worth a call.
ar__budget() {
  local cap=$1 left
  ar_now_ms
  left=$((AR_DEADLINE_MS - AR_NOW_MS))
  if ((left < cap)); then cap=$left; fi
  if ((cap < 50)); then return 1; fi
  AR_CALL_END_MS=$((AR_NOW_MS + cap))
  printf -v AR_MAX_TIME '%d.%03d' $((cap / 1000)) $((cap % 1000))
  return 0
}

# POST to the control port. Usage: ar_post PATH CAP_MS stdin|var
#   stdin: the hook's own stdin (Claude's payload, byte for byte); var: $AR_REQ_BODY.
# Sets AR_STATUS (000 when unreachable, refused or timed out) and AR_BODY. Never fails.
# Transport: bash's own /dev/tcp (no process to start: the Stop hook's whole run stays in the
# low milliseconds), or curl when AGENT_RELAY_HOOK_TRANSPORT=curl (e.g. a bash built without
# network redirections). Both are bounded by the call cap and the script deadline.
ar_post() {
  local path=$1 cap=$2 source=$3
  AR_STATUS=000
  AR_BODY=
  if [[ $source == stdin ]]; then
    ar_read_stdin
    AR_REQ_BODY=$AR_STDIN
  fi
  if ! ar__budget "$cap"; then return 0; fi
  if [[ ${AGENT_RELAY_HOOK_TRANSPORT:-} == curl ]] || ((BASH_VERSINFO[0] < 4)); then
    ar__post_curl "$path"
  else
    ar__post_devtcp "$path"
  fi
  return 0
}

# Seconds left for the current call into AR_MAX_TIME; return 1 when (almost) none is left.
ar__call_left() {
  local left
  ar_now_ms
  left=$((AR_CALL_END_MS - AR_NOW_MS))
  if ((left < 5)); then return 1; fi
  printf -v AR_MAX_TIME '%d.%03d' $((left / 1000)) $((left % 1000))
  return 0
}

# Read all of the hook's stdin into AR_STDIN in one go. `read -d ''` would read a pipe or socket
# one byte per system call (a 1.5 MB payload took longer than the hook's whole budget); cat reads
# in blocks. Trailing newlines are dropped, which a JSON payload does not mind.
ar_read_stdin() {
  AR_STDIN=$(cat 2>/dev/null || :)
}

# The HTTP call over bash's /dev/tcp on a fixed descriptor (9): `exec {fd}<>` is bash 4.1 only.
ar__post_devtcp() {
  # C locale: lengths and reads count bytes, whatever the payload's characters.
  local path=$1 line status= len= done_headers=0 body= LC_ALL=C
  { exec 9<>"/dev/tcp/127.0.0.1/${AGENT_RELAY_RUNNER_PORT}"; } 2>/dev/null || return 0
  if ! { printf 'POST %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
    "$path" "$AGENT_RELAY_RUNNER_PORT" "$AR_TOKEN" "${#AR_REQ_BODY}" "$AR_REQ_BODY" >&9; } 2>/dev/null; then
    exec 9>&-
    return 0
  fi
  if ar__call_left && IFS= read -r -t "$AR_MAX_TIME" -u 9 line && [[ $line =~ ^HTTP/1\.[01]\ ([0-9][0-9][0-9]) ]]; then
    status=${BASH_REMATCH[1]}
    while ar__call_left && IFS= read -r -t "$AR_MAX_TIME" -u 9 line; do
      line=${line%$'\r'}
      if [[ -z $line ]]; then
        done_headers=1
        break
      fi
      if [[ $line =~ ^[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]:\ *([0-9]+) ]]; then len=${BASH_REMATCH[1]}; fi
    done
    if ((done_headers == 1)); then
      # The control port always sends Content-Length; anything else (chunked) counts as no answer.
      if [[ $status == 204 || $len == 0 ]]; then
        AR_STATUS=$status
      elif [[ -z $len ]]; then
        :
      elif ar__call_left; then
        # The request said `Connection: close`: the body runs to end of stream (read -N is bash 4.1).
        IFS= read -r -d '' -t "$AR_MAX_TIME" -u 9 body || :
        if ((${#body} == len)); then
          AR_STATUS=$status
          AR_BODY=$body
        fi
      fi
    fi
  fi
  exec 9>&-
  return 0
}

ar__post_curl() {
  local path=$1 resp=
  # `|| :` inside the substitution: a curl failure (runner gone, timeout) is expected, not a hook
  # bug, and must not trip the ERR trap inherited by the subshell.
  resp=$(LC_ALL=C curl -q -s --noproxy '*' --connect-timeout 0.5 --max-time "$AR_MAX_TIME" -K /dev/fd/3 \
    -H 'content-type: application/json' --data-binary @- -w '\n%{http_code}' \
    "${AR_BASE}${1}" 3<<<"$AR_CURL_CONFIG" <<<"$AR_REQ_BODY" 2>/dev/null || :)
  if [[ $resp == *$'\n'* ]]; then
    AR_STATUS=${resp##*$'\n'}
    AR_BODY=${resp%$'\n'*}
  fi
  return 0
}

# Print the response body verbatim when the call succeeded (2xx) and returned something.
ar_print_response() {
  if [[ $AR_STATUS == 2?? && -n $AR_BODY ]]; then printf '%s\n' "$AR_BODY"; fi
  return 0
}

# The usual hook: forward Claude's payload to PATH, print what the runner answers.
ar_forward_stdin() {
  ar_test_fail_point
  ar_post "$1" "${2:-1000}" stdin
  ar_print_response
}

# Tests only: AGENT_RELAY_HOOK_TEST_FAIL=<anything> makes this a failing command, exercising the
# ERR trap exactly as a real bug would.
ar_test_fail_point() {
  [[ -z ${AGENT_RELAY_HOOK_TEST_FAIL:-} ]] || false "injected failure: ${AGENT_RELAY_HOOK_TEST_FAIL}"
}

# ERR trap: report the failing command to /hooks/fatal (bounded), then exit 0 (the EXIT trap of
# the Stop hook still runs and clears busy).
ar__on_err() {
  local rc=$1 line=$2 cmd=$3 hook
  trap - ERR
  ar_json_escape "$AR_HOOK"
  hook=$AR_JSON
  ar_json_escape "${cmd:0:2000}"
  printf -v AR_REQ_BODY '{"hook":"%s","line":%d,"exitCode":%d,"command":"%s"}' "$hook" "$line" "$rc" "$AR_JSON"
  ar_post /hooks/fatal 400 var
  exit 0
}
