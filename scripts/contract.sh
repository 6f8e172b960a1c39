#!/usr/bin/env bash
# Contract hygiene for proto/duckgrid/v1:
#
#   1. buf lint      (buf.yaml: STANDARD)
#   2. buf breaking  against the `main` branch (buf.yaml: FILE). The contract
#                    as committed on main is exported with `git archive` and
#                    compared as a directory input (works in worktrees and
#                    shallow clones, unlike buf's .git input). Skipped, saying
#                    why, when there is no main branch yet or the contract is
#                    new on it. DUCKGRID_BREAKING_AGAINST=<git ref> compares
#                    against another ref.
#   3. drift check   regenerates every client into a temporary directory
#                    (scripts/gen.sh --out) and fails when the committed
#                    generated code differs.
#
# Usage: scripts/contract.sh   (needs scripts/install-tools.sh first)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
export PATH="$DUCKGRID_TOOLS/npm/node_modules/.bin:$DUCKGRID_TOOLS/go/bin:$DUCKGRID_TOOLS/venv/bin:$PATH"
command -v buf >/dev/null || { echo "contract.sh: buf not found; run scripts/install-tools.sh first" >&2; exit 1; }
cd "$ROOT"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
failed=0

echo "==> buf lint"
if buf lint; then
  echo "    lint: clean"
else
  echo "    lint: FAILED" >&2
  failed=1
fi

REF="${DUCKGRID_BREAKING_AGAINST:-main}"
echo "==> buf breaking against git ref '$REF'"
if ! git rev-parse --git-dir >/dev/null 2>&1; then
  echo "    skipped: $ROOT is not a git repository"
elif ! git rev-parse --verify --quiet "$REF^{commit}" >/dev/null; then
  if [[ $REF == main ]] && git rev-parse --verify --quiet "origin/main^{commit}" >/dev/null; then
    REF=origin/main
  else
    REF=""
    echo "    skipped: the ref does not exist yet (no commit on it)"
  fi
fi
if [[ -n $REF ]] && git rev-parse --verify --quiet "$REF^{commit}" >/dev/null; then
  if ! git cat-file -e "$REF:proto/duckgrid/v1/grid.proto" 2>/dev/null; then
    echo "    skipped: proto/duckgrid/v1/grid.proto is new (not on $REF)"
  else
    mkdir -p "$TMP/against"
    paths=(proto)
    if git cat-file -e "$REF:buf.yaml" 2>/dev/null; then paths+=(buf.yaml); fi
    git archive "$REF" "${paths[@]}" | tar -x -C "$TMP/against"
    [[ -f $TMP/against/buf.yaml ]] || cp buf.yaml "$TMP/against/"
    if buf breaking --against "$TMP/against"; then
      echo "    breaking: no breaking change against $REF ($(git rev-parse --short "$REF"))"
    else
      echo "    breaking: FAILED against $REF" >&2
      failed=1
    fi
  fi
fi

echo "==> drift check: regenerate into a temporary tree and compare"
mkdir -p "$TMP/gen"
"$ROOT/scripts/gen.sh" --out "$TMP/gen" >"$TMP/gen.log" 2>&1 || { cat "$TMP/gen.log" >&2; exit 1; }
drift=0
while IFS= read -r dir; do
  if diff -r -u -x __pycache__ "$dir" "$TMP/gen/$dir" >"$TMP/diff" 2>&1; then
    echo "    $dir: up to date"
  else
    echo "    $dir: DIFFERS from what scripts/gen.sh generates" >&2
    head -n 60 "$TMP/diff" >&2
    drift=1
  fi
done < <("$ROOT/scripts/gen.sh" --list)
if ((drift)); then
  echo "    drift: run scripts/gen.sh and commit the result" >&2
  failed=1
fi

if ((failed)); then
  echo "contract: FAILED" >&2
  exit 1
fi
echo "contract: lint, breaking and drift checks passed"
