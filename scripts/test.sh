#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (the CLI tests run the built
# `quartet` binary), runs every test suite, then checks a seeded federation from outside
# (the dashboard in headless Chromium, the API against docs/openapi.yaml with schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build --build-tests
swift test --skip-build
scripts/check-api.sh .build/debug/quartet
