#!/usr/bin/env bash
# Runs the three client suites against the real server binary ($DUCKGRID_BIN;
# each suite starts its own servers on free loopback ports: the demo, and the
# example models examples/budget and examples/retail) and then checks
# that the three clients saw identical values for the same edits: every suite
# applies the same edit script to a fresh server (seed 7, 5000 facts) and
# writes a canonical dump to $DUCKGRID_CANONICAL_OUT; the dumps must be
# byte-identical.
#
#   python      mypy --strict, pytest            (clients/python)
#   go          go vet, go test                  (clients/go)
#   typescript  tsc --strict, node --test        (clients/typescript)
#
# Usage: scripts/test-clients.sh [python] [go] [typescript]   (default: all three)
# Needs scripts/install-tools.sh first and a built server.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
VENV="$DUCKGRID_TOOLS/venv"

suites=("$@")
((${#suites[@]})) || suites=(python go typescript)
for s in "${suites[@]}"; do
  case $s in python | go | typescript) ;; *) echo "test-clients.sh: unknown suite: $s" >&2; exit 2 ;; esac
done

if [[ ! -x $DUCKGRID_BIN ]]; then
  echo "test-clients.sh: server binary not found at DUCKGRID_BIN=$DUCKGRID_BIN (build it first)" >&2
  exit 1
fi
[[ -x $VENV/bin/python && -d $ROOT/clients/typescript/node_modules ]] ||
  { echo "test-clients.sh: run scripts/install-tools.sh first" >&2; exit 1; }
echo "==> server binary: $DUCKGRID_BIN"

DUMPS="$(mktemp -d)"
trap 'rm -rf "$DUMPS"' EXIT
declare -A result=()
declare -A seconds=()

run_suite() { # run_suite NAME COMMAND...
  local name=$1; shift
  local start=$SECONDS
  echo
  echo "==> $name"
  # A subshell outside any `if`, so that set -e stops the suite at its first failure.
  local rc=0
  set +e
  (
    set -e
    export DUCKGRID_CANONICAL_OUT="$DUMPS/$name.jsonl"
    "$@"
  )
  rc=$?
  set -e
  if ((rc == 0)); then result[$name]=passed; else result[$name]=FAILED; fi
  seconds[$name]=$((SECONDS - start))
  echo "==> $name: ${result[$name]} (${seconds[$name]}s)"
}

python_suite() {
  cd "$ROOT/clients/python"
  echo "--- mypy (strict)"
  "$VENV/bin/python" -m mypy
  echo "--- pytest"
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider
}

go_suite() {
  cd "$ROOT/clients/go"
  echo "--- go vet"
  go vet ./...
  echo "--- go test"
  go test -count=1 ./...
}

typescript_suite() {
  cd "$ROOT/clients/typescript"
  echo "--- tsc --strict"
  rm -rf dist
  node_modules/.bin/tsc -p tsconfig.json
  echo "--- node --test"
  node --test dist/test/*.test.js
}

for s in "${suites[@]}"; do
  run_suite "$s" "${s}_suite"
done

echo
echo "==> cross-client check: canonical dumps of the shared edit script"
cross=passed
reference=""
for s in "${suites[@]}"; do
  f="$DUMPS/$s.jsonl"
  if [[ ! -s $f ]]; then
    echo "    $s: no dump (its canonical test did not run to the end)"
    cross=FAILED
    continue
  fi
  echo "    $s: $(wc -l <"$f") lines, sha256 $(sha256sum "$f" | cut -c1-16)"
  if [[ -z $reference ]]; then
    reference=$s
  elif ! cmp -s "$DUMPS/$reference.jsonl" "$f"; then
    echo "    $s differs from $reference:"
    diff -u "$DUMPS/$reference.jsonl" "$f" | head -n 40 | sed 's/^/      /'
    cross=FAILED
  fi
done
if ((${#suites[@]} < 2)); then
  echo "    (one suite only: nothing to compare)"
fi

echo
passed=0 failed=0
for s in "${suites[@]}"; do
  printf '    %-11s %-7s %4ss\n' "$s" "${result[$s]}" "${seconds[$s]}"
  [[ ${result[$s]} == passed ]] && passed=$((passed + 1)) || failed=$((failed + 1))
done
printf '    %-11s %s\n' "identical" "$cross"
[[ $cross == passed ]] && passed=$((passed + 1)) || failed=$((failed + 1))
echo "client suites: $passed passed, $failed failed"
((failed == 0))
