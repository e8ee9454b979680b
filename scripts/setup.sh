#!/usr/bin/env bash
# Installs what Quartet needs on a fresh Debian machine with Swift at /opt/swift (the
# `swift-packages-b` machine kind), and nothing when it is already there. Safe to re-run.
#   - libssl-dev, pkg-config: the system OpenSSL that QuartetCrypto (and later TLS) binds to
#   - libsqlite3-dev: SQLite for GRDB
#   - openssl, curl: the `openssl` and `curl` commands tests use as independent TLS peers
#   - golang-go, golang-golang-x-mod-dev: Go's sumdb note/tlog packages, the independent
#     signed-note and RFC 6962 proof verifier in the interop tests
#   - python3 + cryptography: the independent Ed25519 check of checkpoint signatures
#   - chromium, chromium-driver: the web interface checked in a real (headless) browser
#     (scripts/check-api.sh, Tests/Browser/web_test.py)
#   - selenium, axe-playwright-python (PyPI, for the axe-core 4.12 it bundles; its Playwright
#     side is not installed): the browser driven by the tests, and axe-core's
#     accessibility rules (WCAG 2.2 AA) run on every page
#   - wrk: the load generator of `quartet bench api`
#   - schemathesis (PyPI): the API checked against docs/openapi.yaml (scripts/check-api.sh)
#   - dpkg-dev, binutils, patchelf, lintian, shellcheck, man-db, systemd, procps: the Debian
#     package built and checked (deploy/package.sh, scripts/check-package.sh): dpkg-shlibdeps,
#     strip and readelf, RUNPATH removal, lintian, the maintainer scripts, `man --warnings`,
#     systemd-analyze verify/security, and /bin/kill which the unit's ExecReload runs
#   - prometheus: promtool, which checks deploy/prometheus/quartet-rules.yml (AlertRulesTests)
#   - iproute2, nftables: the federation across network namespaces (scripts/check-netns.sh):
#     `ip netns`, veth and a bridge; packet loss with nftables (this kernel has no tc netem)
set -euo pipefail

need=()
for pkg in libssl-dev libsqlite3-dev pkg-config openssl curl golang-go golang-golang-x-mod-dev python3 chromium chromium-driver wrk \
           dpkg-dev binutils patchelf lintian shellcheck man-db systemd procps prometheus iproute2 nftables; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! python3 -c 'import cryptography' 2>/dev/null; then
    echo "setup: installing Python cryptography"
    python3 -m pip install --quiet cryptography 2>/dev/null || {
        # Debian's own python3 refuses pip installs (PEP 668): use its package instead.
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        ${SUDO:-} apt-get install -y -qq python3-cryptography >/dev/null
    }
fi
# The Python test tools at the versions the checks were written against: an unpinned name takes
# whatever PyPI publishes that day (installed as root in CI), and a new release of schemathesis
# or axe-core changes what the checks find. (Their own dependencies are resolved by pip.)
pinned() { python3 -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('$1') == '$2' else 1)" 2>/dev/null; }
pip_install() { python3 -m pip install --quiet "$@" 2>/dev/null || python3 -m pip install --quiet --break-system-packages "$@"; }
if ! pinned schemathesis 4.32.5 || ! command -v schemathesis >/dev/null 2>&1; then
    echo "setup: installing schemathesis 4.32.5"
    pip_install schemathesis==4.32.5
fi
if ! pinned selenium 4.51.0 || ! pinned axe-playwright-python 0.1.8; then
    echo "setup: installing selenium 4.51.0 and axe-core (axe-playwright-python 0.1.8, its axe.min.js only)"
    pip_install selenium==4.51.0 && pip_install --no-deps axe-playwright-python==0.1.8
fi
if ! command -v swift >/dev/null 2>&1; then
    if [ -x /opt/swift/usr/bin/swift ]; then
        echo "setup: add /opt/swift/usr/bin to PATH" >&2
    else
        echo "setup: Swift 6 is required (expected at /opt/swift)" >&2
    fi
    exit 1
fi
