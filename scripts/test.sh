#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (the CLI tests run the built
# `quartet` binary), and runs every test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build --build-tests
swift test --skip-build
