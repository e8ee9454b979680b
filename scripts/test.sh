#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (the CLI tests run the built
# `quartet` binary), runs every test suite, then checks a seeded federation from outside
# (the dashboard in headless Chromium, the API against docs/openapi.yaml with schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build --build-tests
# The demo's signal tests start whole federations (fifteen node processes); on two cores they
# starve the timing-sensitive peer tests running beside them, so they run in a pass of their own.
swift test --skip-build --skip DemoSignalTests
swift test --skip-build --filter DemoSignalTests
scripts/check-api.sh .build/debug/quartet
