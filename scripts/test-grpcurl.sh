#!/usr/bin/env bash
# The grpcurl walkthrough test: runs every grpcurl command of a markdown
# file's walkthrough against a freshly started server, so the docs cannot rot.
#
# Convention for the markdown (README.md by default):
#
#   * A walkthrough block is a fenced code block (``` or ```sh / ```bash /
#     ```console ...) whose opening fence is on the line immediately after
#     the marker line `<!-- grpcurl-walkthrough -->`. A file may have several.
#   * Every line in such a block that starts with `grpcurl` (leading spaces
#     allowed) is a command; a line ending in `\` continues on the next line.
#     Other lines (comments, sample output) are ignored. Commands run in file
#     order, through bash (so quote as in a shell), against one server.
#   * Write the address as `127.0.0.1:50051` (or `localhost:50051`): it is
#     replaced by the test server's real address.
#   * The server is `duckgrid serve --db :memory: --seed 42 --facts 100000`,
#     the README's defaults, so commands may use member names of that demo
#     data verbatim (GetSheet shows them). Revisions start at 0 and each
#     write in the walkthrough adds one, in order.
#   * Blocks marked `<!-- grpcurl-walkthrough auth -->` instead run, after
#     the others, against a second server with authentication and TLS:
#     `duckgrid certs new --out certs` and `duckgrid keys new` made in a
#     scratch directory that is the commands' working directory (so
#     `-cacert certs/ca.pem` resolves), `--auth-file keys.toml --tls-cert
#     certs/server.pem --tls-key certs/server.key`, and the tokens of a
#     writer (subject alice, may spread) and a reader (bob) in the
#     environment as $WRITER_TOKEN and $READER_TOKEN.
#   * A command passes when grpcurl exits 0. A command containing
#     `WatchUpdates` is a stream: it runs under `timeout` (5 s) and passes when
#     it printed at least one message (grpcurl's JSON output) before it was
#     cut off. A command ending in the comment `# expect: CODE` (e.g.
#     `# expect: Aborted`, grpcurl's spelling of the status code) passes when
#     grpcurl fails with that code.
#
# Usage: scripts/test-grpcurl.sh [FILE.md]     (default: README.md)
#   env: DUCKGRID_WALKTHROUGH_SEED (42), DUCKGRID_WALKTHROUGH_FACTS (100000),
#        DUCKGRID_STREAM_TIMEOUT (5 seconds)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
export PATH="$DUCKGRID_TOOLS/venv/bin:$PATH"

FILE="${1:-$ROOT/README.md}"
SEED="${DUCKGRID_WALKTHROUGH_SEED:-42}"
FACTS="${DUCKGRID_WALKTHROUGH_FACTS:-100000}"
STREAM_TIMEOUT="${DUCKGRID_STREAM_TIMEOUT:-5}"
MARKER='<!-- grpcurl-walkthrough -->'
AUTH_MARKER='<!-- grpcurl-walkthrough auth -->'

[[ -f $FILE ]] || { echo "test-grpcurl.sh: no such file: $FILE" >&2; exit 1; }
command -v grpcurl >/dev/null || { echo "test-grpcurl.sh: grpcurl not found; run scripts/install-tools.sh first" >&2; exit 1; }
[[ -x $DUCKGRID_BIN ]] || { echo "test-grpcurl.sh: server binary not found at DUCKGRID_BIN=$DUCKGRID_BIN" >&2; exit 1; }

# One command per output line (continuations joined), from the blocks marked
# with $1.
extract() {
  awk -v marker="$1" '
    function flush() { if (cmd != "") { print cmd; cmd = "" } }
    { sub(/\r$/, "") }
    inblock && /^[ \t]*(```|~~~)/ { flush(); inblock = 0; next }
    inblock {
      line = $0
      if (cmd == "") {
        if (line !~ /^[ \t]*grpcurl([ \t]|$)/) next
        sub(/^[ \t]+/, "", line)
      }
      if (line ~ /\\[ \t]*$/) { sub(/\\[ \t]*$/, " ", line); cmd = cmd line; next }
      cmd = cmd line; flush(); next
    }
    armed && /^[ \t]*(```|~~~)/ { inblock = 1; armed = 0; next }
    { armed = ($0 == marker) }
    END { flush() }
  ' "$FILE"
}
mapfile -t COMMANDS < <(extract "$MARKER")
mapfile -t AUTH_COMMANDS < <(extract "$AUTH_MARKER")
if ((${#COMMANDS[@]} == 0)); then
  echo "test-grpcurl.sh: no grpcurl commands in blocks marked '$MARKER' in $FILE" >&2
  exit 1
fi
echo "==> $FILE: ${#COMMANDS[@]} grpcurl commands, ${#AUTH_COMMANDS[@]} with auth and TLS"

TMP="$(mktemp -d)"
SERVER_PID=""
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  rm -rf "$TMP"
}
trap cleanup EXIT

# start_server ARGS...: a server on a free port; sets ADDR.
start_server() {
  echo "==> starting $DUCKGRID_BIN serve --seed $SEED --facts $FACTS $*"
  rm -f "$TMP/addr"
  "$DUCKGRID_BIN" serve --listen 127.0.0.1:0 --db :memory: --seed "$SEED" --facts "$FACTS" \
    --addr-file "$TMP/addr" --progress-interval-ms 500 "$@" >"$TMP/server.log" 2>&1 </dev/null &
  SERVER_PID=$!
  ADDR=""
  for _ in $(seq 3600); do # up to 180 s
    if [[ -s $TMP/addr ]]; then
      ADDR="$(tr -d '[:space:]' <"$TMP/addr")"
      [[ $ADDR =~ ^[^:]+:[0-9]+$ ]] && break
      ADDR=""
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited:" >&2; tail -n 40 "$TMP/server.log" >&2; exit 1; }
    sleep 0.05
  done
  [[ -n $ADDR ]] || { echo "server did not write its address within 180s" >&2; tail -n 40 "$TMP/server.log" >&2; exit 1; }
  echo "==> server at $ADDR"
}

passed=0 failed=0
# walk COMMAND...: runs each against $ADDR, in the current directory.
walk() {
  local total=$# i=0 cmd run expect out rc ok why
  for cmd in "$@"; do
    i=$((i + 1))
    run="${cmd//127.0.0.1:50051/$ADDR}"
    run="${run//localhost:50051/$ADDR}"
    expect=""
    if [[ $cmd =~ \#[[:space:]]*expect:[[:space:]]*([A-Za-z]+)[[:space:]]*$ ]]; then
      expect="${BASH_REMATCH[1]}"
    fi
    echo
    echo "--- [$i/$total] $cmd"
    out="$TMP/out"
    rc=0
    if [[ $cmd == *WatchUpdates* ]]; then
      timeout --signal=INT "$STREAM_TIMEOUT" bash -c "$run" >"$out" 2>&1 || rc=$?
    else
      bash -c "$run" >"$out" 2>&1 || rc=$?
    fi
    head -n 20 "$out" | sed 's/^/    /'
    (($(wc -l <"$out") > 20)) && echo "    ... ($(wc -l <"$out") lines)"
    ok=0 why=""
    if [[ -n $expect ]]; then
      if ((rc != 0)) && grep -q "Code: $expect\$" "$out"; then ok=1; else why="expected grpcurl to fail with Code: $expect (exit $rc)"; fi
    elif [[ $cmd == *WatchUpdates* ]]; then
      # Cut off by timeout (124, or 130 when grpcurl exits on SIGINT) after printing a message.
      if { ((rc == 0)) || ((rc == 124)) || ((rc == 130)); } && grep -q '^{' "$out"; then ok=1; else why="stream printed no message (exit $rc)"; fi
    else
      if ((rc == 0)); then ok=1; else why="exit $rc"; fi
    fi
    if ((ok)); then
      echo "    PASS"
      passed=$((passed + 1))
    else
      echo "    FAIL: $why"
      failed=$((failed + 1))
    fi
  done
}

start_server
walk "${COMMANDS[@]}"
stop_server

if ((${#AUTH_COMMANDS[@]})); then
  echo
  echo "==> with authentication and TLS"
  mkdir -p "$TMP/auth"
  cd "$TMP/auth"
  "$DUCKGRID_BIN" certs new --out certs >/dev/null
  token() { sed -n 's/^#   \(dg_[0-9a-f]*\)$/\1/p' "$1"; }
  "$DUCKGRID_BIN" keys new --subject alice --role writer --spread >alice.txt
  "$DUCKGRID_BIN" keys new --subject bob --role reader >bob.txt
  # The entries only: a token is shown once and kept nowhere.
  grep -hv '^#' alice.txt bob.txt >keys.toml
  WRITER_TOKEN="$(token alice.txt)" READER_TOKEN="$(token bob.txt)"
  export WRITER_TOKEN READER_TOKEN
  [[ -n $WRITER_TOKEN && -n $READER_TOKEN ]] || { echo "no token in the output of duckgrid keys new" >&2; exit 1; }
  start_server --auth-file keys.toml --tls-cert certs/server.pem --tls-key certs/server.key
  walk "${AUTH_COMMANDS[@]}"
  stop_server
  cd "$ROOT"
fi

echo
echo "grpcurl walkthrough ($FILE): $passed passed, $failed failed"
((failed == 0))
