#!/usr/bin/env bash
# Runs every test of the TypeScript client, the React hooks, the Material UI components and
# the demo page, against the real Rust demo server:
#
#   1. installs the npm packages from package-lock.json (`npm ci`);
#   2. installs Debian's chromium when /usr/bin/chromium is missing (apt-get, as root);
#   3. builds the demo server (`cargo build --release -p chanbind-examples --bin demo`;
#      CHANBIND_DEMO_PROFILE=debug reuses the binary `cargo test --workspace` built);
#   4. type-checks everything, and checks that the committed page (examples/assets/demo)
#      is what client/demo builds to;
#   5. runs the unit and hook tests (vitest; each file starts its own demo server), then the
#      browser tests (headless Chromium through playwright-core);
#   6. prints one closing line: `client: N passed, N failed`.
#
# Environment: CHANBIND_SKIP_NPM_CI=1 keeps node_modules as it is; CHANBIND_SKIP_E2E=1 skips
# the browser tests; CHANBIND_E2E_PAGE=static serves the page from Node instead of the demo
# server; CHANBIND_DEMO_BIN names a demo binary to use as is.
set -euo pipefail
cd "$(dirname "$0")"
client_dir=$(pwd)
repo=$(cd .. && pwd)

say() { printf 'client/test.sh: %s\n' "$*"; }

# 1. npm packages
if [ "${CHANBIND_SKIP_NPM_CI:-}" != 1 ] || [ ! -d node_modules ]; then
    say "npm ci"
    npm ci --no-audit --no-fund --loglevel=error
fi

# 2. Chromium, for the browser tests
chromium_path=${CHROMIUM_PATH:-/usr/bin/chromium}
if [ "${CHANBIND_SKIP_E2E:-}" != 1 ] && [ ! -x "$chromium_path" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        say "installing Debian's chromium"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq chromium >/dev/null
    else
        say "no Chromium at $chromium_path: install Debian's chromium package (as root) or set CHROMIUM_PATH" >&2
        exit 1
    fi
fi

# 3. The demo server
if [ -z "${CHANBIND_DEMO_BIN:-}" ]; then
    profile=${CHANBIND_DEMO_PROFILE:-release}
    target=${CARGO_TARGET_DIR:-$repo/target}
    if [ "$profile" = release ]; then
        say "cargo build --release -p chanbind-examples --bin demo"
        (cd "$repo" && cargo build --quiet --release -p chanbind-examples --bin demo)
        export CHANBIND_DEMO_BIN="$target/release/demo"
    else
        say "cargo build -p chanbind-examples --bin demo"
        (cd "$repo" && cargo build --quiet -p chanbind-examples --bin demo)
        export CHANBIND_DEMO_BIN="$target/debug/demo"
    fi
fi

# 4. Types, and the committed page
say "tsc"
npx tsc -p tsconfig.json
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
say "checking that examples/assets/demo is the build of client/demo"
(cd demo && npx vite build --logLevel error --outDir "$fresh/demo" --emptyOutDir)
if ! diff -r -q "$fresh/demo" "$repo/examples/assets/demo" >/dev/null; then
    diff -r -q "$fresh/demo" "$repo/examples/assets/demo" || true
    say "examples/assets/demo is out of date: run 'npm run build:demo' in client/ and commit it" >&2
    exit 1
fi

# 5. The tests
results="$fresh/results"
mkdir -p "$results"
status=0
say "unit and hook tests"
npx vitest run --project client --project react --reporter=default --reporter=json --outputFile.json="$results/unit.json" || status=1
if [ "${CHANBIND_SKIP_E2E:-}" != 1 ]; then
    say "browser tests"
    CHROMIUM_PATH="$chromium_path" npx vitest run --project e2e --reporter=default --reporter=json --outputFile.json="$results/e2e.json" || status=1
fi

# 6. One closing line for CI
node -e '
  const fs = require("fs");
  let passed = 0, failed = 0, skipped = 0;
  for (const f of fs.readdirSync(process.argv[1])) {
    const r = JSON.parse(fs.readFileSync(process.argv[1] + "/" + f, "utf8"));
    passed += r.numPassedTests;
    failed += r.numFailedTests;
    skipped += (r.numPendingTests || 0) + (r.numTodoTests || 0);
    // A file that failed to load has no failed test but fails the run.
    if (!r.success && r.numFailedTests === 0) failed += r.numFailedTestSuites || 1;
  }
  console.log(`client: ${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results"
exit $status
