#!/usr/bin/env bash
# The test command: installs what is missing, builds everything (the CLI tests run the built
# `quartet` binary), runs every test suite, then checks a seeded federation from outside
# (the dashboard in headless Chromium, the API against docs/openapi.yaml with schemathesis).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
scripts/setup.sh
swift build --build-tests
# The optimised binary people run: the checks from outside below drive it, not only the debug
# build the unit tests use (a task-local in a middleware crashed release builds alone).
swift build -c release --product quartet
# TLS and crypto come from the system OpenSSL: nothing built here links swift-nio-ssl's BoringSSL
# (HummingbirdTesting would bring it into the tests; docs/architecture.md, "Packages fetched").
for built in .build/debug/quartet .build/debug/QuartetPackageTests.xctest .build/release/quartet; do
    [ -f "$built" ] || { echo "test.sh: $built was not built" >&2; exit 1; }
    if grep -aq CNIOBoringSSL_SSL_CTX_new "$built"; then
        echo "test.sh: $built links BoringSSL (swift-nio-ssl): TLS and crypto come from the system OpenSSL" >&2
        exit 1
    fi
done
# Three passes: the suites that run whole federations of `quartet serve` processes
# (FederationTests; the demo's signal tests, fifteen nodes each) starve each other and the
# timing-sensitive peer tests on two cores when they all run at once, so each kind runs alone.
# Everything the Swift tests write under the temporary directory (stores, configurations, keys:
# about 1,500 directories a run) goes into one directory of this run, removed once they pass and
# kept, with its path said, when they fail. Only the Swift tests use it: check-package.sh runs
# the packaged node as the `quartet` user, which could not enter a directory private to root.
tests_tmp=$(mktemp -d "${TMPDIR:-/tmp}/quartet-tests.XXXXXX")
trap 'echo "test.sh: the Swift tests failed; their files are in $tests_tmp" >&2' EXIT
TMPDIR="$tests_tmp" swift test --skip-build --skip FederationTests --skip DemoSignalTests
TMPDIR="$tests_tmp" swift test --skip-build --filter FederationTests
TMPDIR="$tests_tmp" swift test --skip-build --filter DemoSignalTests
trap - EXIT
rm -rf "$tests_tmp"
scripts/check-api.sh .build/release/quartet
scripts/check-package.sh --allow-shared-swift --binary "${QUARTET_RELEASE_BINARY:-.build/release/quartet}"
# Five nodes on five (virtual) hosts: network namespaces, onboarding by certificate requests,
# the packaged unit's ExecStart line; a partition, packet loss, a member removed (root only).
scripts/check-netns.sh .build/debug/quartet
