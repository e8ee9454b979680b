#!/usr/bin/env bash
# Builds the Debian package (deploy/package.sh) and checks it from outside:
#   - a second build byte for byte the same as the first;
#   - dpkg-deb --info / --contents: fields, dependencies, conffiles, every file with its mode
#     and root:root ownership;
#   - lintian --fail-on error (the accepted warnings are in docs/deploy.md);
#   - the maintainer scripts: sh -n, and shellcheck when installed;
#   - systemd-analyze verify on the unit from the package, its ExecStart pointed at the
#     packaged binary, its man page looked up in the package;
#   - systemd-analyze security --offline=true: the exposure score is printed and must be 2.0
#     or lower;
#   - dpkg --root on a scratch root: unpack (files, conffiles registered, dpkg --verify), then
#     purge with and without node data left in /var/lib/quartet (prerm and postrm run for
#     real, chrootless, with DPKG_ROOT);
#   - dpkg -i, an upgrade over itself and a purge on overlays of /etc, /usr and /var in a
#     private mount namespace: the real postinst (adduser, /var/lib/quartet 0700), nothing
#     reaching the machine (skipped where mount namespaces are refused).
# The unit under a real systemd is not run here: docs/deploy.md says how to check it by hand.
#
#   scripts/check-package.sh [--binary PATH] [--allow-shared-swift]
#
# --binary packages an already built binary (CI builds the static release once); without it
# package.sh builds one (swift build -c release --static-swift-stdlib, under the build lock).
# --allow-shared-swift accepts a binary linked to the Swift runtime's shared libraries (a
# debug build, or the test command's plain release build), for these checks only.
set -euo pipefail
cd "$(dirname "$0")/.."

package_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || { echo "check-package.sh: --binary needs a path" >&2; exit 64; }; package_args+=(--binary "$2"); shift 2 ;;
        --allow-shared-swift) package_args+=(--allow-shared-swift); shift ;;
        *) echo "check-package.sh: unknown argument '$1' (expected --binary PATH, --allow-shared-swift)" >&2; exit 64 ;;
    esac
done
for tool in dpkg-deb dpkg lintian systemd-analyze man; do
    command -v "$tool" >/dev/null || { echo "check-package.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok   $*"; }

deb=$(deploy/package.sh "${package_args[@]}" --output "$work/out")
[ -f "$deb" ] || { echo "check-package.sh: package.sh printed '$deb', which is not a file" >&2; exit 1; }
ok "built $(basename "$deb")"
# Reproducible: the same binary and sources give the same bytes (file times from the
# changelog, gzip -n, sizes not blocks).
again=$(deploy/package.sh "${package_args[@]}" --output "$work/again" 2>/dev/null)
if cmp -s "$deb" "$again"; then ok "a second build is byte for byte the same"; else fail "a second build differs from the first"; fi

# --- Control fields -------------------------------------------------------------------------
info=$(dpkg-deb --info "$deb")
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = quartet ] || fail "Package is '$(field Package)'"
[[ "$(field Version)" =~ ^[0-9][0-9A-Za-z.+~]*-[0-9A-Za-z.+~]+$ ]] || fail "Version '$(field Version)' has no Debian revision"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] || fail "Architecture is '$(field Architecture)'"
depends=$(field Depends)
for needed in adduser procps libc6 libssl3 libsqlite3-0; do
    [[ ", $depends," == *", $needed"[\ ,]* ]] || fail "Depends lacks $needed: $depends"
done
[[ "$depends" != *libswift* ]] || fail "Depends names a Swift runtime library: $depends"
for script in postinst prerm postrm conffiles md5sums; do
    grep -q " $script" <<<"$info" || fail "the control archive has no $script"
done
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | sort | tr '\n' ' ')" = \
  "/etc/quartet/federation.example.json /etc/quartet/wales.example.json " ] || fail "conffiles are not the two examples"
ok "control: $(field Package) $(field Version) $(field Architecture); Depends: $depends"

# --- Contents: path, mode, owner ------------------------------------------------------------
contents=$(dpkg-deb --contents "$deb")
expect_file() { # mode path
    grep -qE "^$1 root/root +[0-9]+ [0-9-]+ [0-9:]+ \./$2\$" <<<"$contents" || fail "no $2 with mode $1 owned by root/root"
}
expect_file '-rwxr-xr-x' 'usr/bin/quartet'
expect_file '-rw-r--r--' 'lib/systemd/system/quartet@\.service'
expect_file '-rw-r--r--' 'etc/quartet/wales\.example\.json'
expect_file '-rw-r--r--' 'etc/quartet/federation\.example\.json'
expect_file '-rw-r--r--' 'usr/share/man/man1/quartet\.1\.gz'
expect_file '-rw-r--r--' 'usr/share/doc/quartet/copyright'
expect_file '-rw-r--r--' 'usr/share/doc/quartet/changelog\.Debian\.gz'
expect_file '-rw-r--r--' 'usr/share/lintian/overrides/quartet'
if grep -vE ' root/root ' <<<"$contents" | grep -q .; then fail "files not owned by root/root"; fi
if grep -q 'var/lib/quartet' <<<"$contents"; then fail "/var/lib/quartet is shipped (postinst makes it)"; fi
ok "contents: $(wc -l <<<"$contents") entries, modes and owners as expected"

root="$work/root"
dpkg-deb --extract "$deb" "$root"
gzip -t "$root/usr/share/man/man1/quartet.1.gz" "$root/usr/share/doc/quartet/changelog.Debian.gz" || fail "a .gz file is corrupt"
for gz in usr/share/man/man1/quartet.1.gz usr/share/doc/quartet/changelog.Debian.gz; do
    # gzip -n: no name (FLG bit 3 clear) and no time (MTIME zero) in the header.
    header=$(od -An -tx1 -j3 -N5 "$root/$gz" | tr -d ' \n')
    [ "$header" = "0000000000" ] || fail "$gz: the gzip header holds a name or a time ($header): use gzip -9n"
done
man_warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$root/usr/share/man/man1/quartet.1.gz" 2>&1 >/dev/null || true)
[ -z "$man_warnings" ] || fail "man reports: $man_warnings"
ok "man page and changelog are valid gzip; man --warnings is silent"

# --- lintian --------------------------------------------------------------------------------
if lintian --fail-on error --display-info "$deb" >"$work/lintian.txt" 2>&1; then
    ok "lintian: no errors ($(grep -c '^W:' "$work/lintian.txt" || true) warnings, $(grep -c '^I:' "$work/lintian.txt" || true) info)"
    sed -n 's/^\([WI]\): /     \1: /p' "$work/lintian.txt"
else
    fail "lintian reports errors:"
    cat "$work/lintian.txt" >&2
fi

# --- Maintainer scripts ---------------------------------------------------------------------
for script in postinst prerm postrm; do
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$script" > "$work/$script"
    sh -n "$work/$script" || fail "$script: sh -n"
    if command -v shellcheck >/dev/null; then
        shellcheck -s sh "$work/$script" || fail "$script: shellcheck"
    fi
done
ok "maintainer scripts: sh -n$(command -v shellcheck >/dev/null && echo ", shellcheck") clean"

# --- The unit -------------------------------------------------------------------------------
unit="$root/lib/systemd/system/quartet@.service"
# An instance name makes the template verifiable; the binary's path is the packaged one.
sed "s|/usr/bin/quartet|$root/usr/bin/quartet|g" "$unit" > "$work/quartet@check.service"
if MANPATH="$root/usr/share/man" systemd-analyze verify "$work/quartet@check.service" >"$work/verify.txt" 2>&1; then
    ok "systemd-analyze verify quartet@check.service"
else
    fail "systemd-analyze verify:"
    cat "$work/verify.txt" >&2
fi
systemd-analyze security --offline=true --threshold=20 "$unit" >"$work/security.txt" 2>&1 && security_rc=0 || security_rc=$?
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$work/security.txt")
if [ -z "$score" ]; then
    fail "systemd-analyze security printed no score:"
    cat "$work/security.txt" >&2
elif [ "$security_rc" -ne 0 ] || ! awk -v s="$score" 'BEGIN { exit (s <= 2.0 ? 0 : 1) }'; then
    fail "systemd-analyze security: exposure $score, above 2.0"
    grep '✗' "$work/security.txt" >&2 || true
else
    ok "systemd-analyze security --offline=true: exposure $score (at most 2.0)"
fi
grep -q '^MemoryDenyWriteExecute=yes' "$unit" || fail "the unit lost MemoryDenyWriteExecute=yes"
grep -q '^Type=notify' "$unit" || fail "the unit is not Type=notify"

# --- Unpack and purge in a scratch root -----------------------------------------------------
scratch="$work/scratch"
new_root() {
    rm -rf "$scratch"
    mkdir -p "$scratch/var/lib/dpkg/info" "$scratch/var/lib/dpkg/updates" "$scratch/var/lib/dpkg/triggers"
    : > "$scratch/var/lib/dpkg/status"
    : > "$scratch/var/lib/dpkg/available"
}
in_scratch() { dpkg --root="$scratch" --force-not-root --force-depends --force-script-chrootless "$@"; }
new_root
in_scratch --unpack "$deb" >"$work/dpkg.txt" 2>&1 || { fail "dpkg --root --unpack:"; cat "$work/dpkg.txt" >&2; }
[ -x "$scratch/usr/bin/quartet" ] || fail "unpacked: no usr/bin/quartet"
[ "$(dpkg-query --admindir="$scratch/var/lib/dpkg" -W -f='${db:Status-Abbrev}' quartet 2>/dev/null)" = "iU " ] \
    || fail "unpacked: status is not unpacked"
dpkg-query --admindir="$scratch/var/lib/dpkg" -W -f='${Conffiles}\n' quartet | grep -q '/etc/quartet/wales.example.json' \
    || fail "unpacked: conffiles not registered"
# Until configure, dpkg keeps the conffiles as NAME.dpkg-new, so --verify reports them missing.
[ -f "$scratch/etc/quartet/wales.example.json.dpkg-new" ] || fail "unpacked: no wales.example.json.dpkg-new"
verify=$(in_scratch --verify quartet 2>&1 | grep -v '^missing   c /etc/quartet/' || true)
[ -z "$verify" ] || fail "dpkg --verify after unpack: $verify"
ok "dpkg --root: unpacked, conffiles registered, dpkg --verify clean"

# Purge with a node's data left: postrm keeps it.
mkdir -p "$scratch/var/lib/quartet/wales"
echo data > "$scratch/var/lib/quartet/wales/quartet.sqlite"
in_scratch --purge quartet >"$work/purge.txt" 2>&1 || { fail "dpkg --root --purge:"; cat "$work/purge.txt" >&2; }
[ -f "$scratch/var/lib/quartet/wales/quartet.sqlite" ] || fail "purge removed a node's data"
grep -q "still holds node data" "$work/purge.txt" || fail "purge did not say it kept /var/lib/quartet"
if [ -e "$scratch/usr/bin/quartet" ] || [ -e "$scratch/etc/quartet/wales.example.json.dpkg-new" ]; then fail "purge left package files"; fi
# Purge with nothing left: postrm removes the directory.
new_root
in_scratch --unpack "$deb" >/dev/null 2>&1
mkdir -p "$scratch/var/lib/quartet"
in_scratch --purge quartet >"$work/purge.txt" 2>&1 || { fail "dpkg --root --purge (empty):"; cat "$work/purge.txt" >&2; }
[ ! -e "$scratch/var/lib/quartet" ] || fail "purge left an empty /var/lib/quartet"
ok "dpkg --root --purge: node data kept (with a message), an empty /var/lib/quartet removed"

# --- Install for real, on a copy-on-write view of the system -----------------------------
# dpkg -i, the real postinst (adduser, /var/lib/quartet), an upgrade over itself, and a purge,
# in a private mount namespace where /etc, /usr and /var are overlays: nothing reaches the
# machine. Needs CAP_SYS_ADMIN (root in CI); skipped, and said so, where mounts are refused.
overlay="$work/overlay"
mkdir -p "$overlay"
# As root (CI runs as root) the install is the only check of postinst's user, modes and
# moved-aside links: skipped, it fails the script rather than pass it with those unchecked.
skipped() {
    if [ "$(id -u)" = 0 ]; then fail "not run as root: $1"; else echo "skip $1"; fi
}
if unshare --mount --propagation private true 2>/dev/null; then
    # A check-only package (--allow-shared-swift) runs with the toolchain's Swift runtime.
    runtime=""
    if [[ " ${package_args[*]} " == *" --allow-shared-swift "* ]] && command -v swift >/dev/null; then
        runtime="$(dirname "$(readlink -f "$(command -v swift)")")/../lib/swift/linux"
    fi
    if unshare --mount --propagation private bash -s "$overlay" "$deb" "$runtime" >"$work/install.txt" 2>&1 <<'INSTALL'
set -euo pipefail
overlay=$1 deb=$2 runtime=$3
quartet() { LD_LIBRARY_PATH="$runtime" /usr/bin/quartet "$@"; }
as_quartet() { LD_LIBRARY_PATH="$runtime" setpriv --reuid=quartet --regid=quartet --clear-groups "$@"; }
for dir in etc usr var; do
    mkdir -p "$overlay/$dir/upper" "$overlay/$dir/work"
    mount -t overlay overlay -o "lowerdir=/$dir,upperdir=$overlay/$dir/upper,workdir=$overlay/$dir/work" "/$dir"
done
# The maintainer scripts restart and stop quartet@* through systemd when it runs (systemctl talks
# to PID 1, which no mount namespace holds apart): hidden here, so a host's real nodes are
# never touched by this check.
if [ -d /run/systemd ]; then mount -t tmpfs -o mode=0755 tmpfs /run/systemd; fi
export DEBIAN_FRONTEND=noninteractive
check() { if ! eval "$1"; then echo "INSTALL-FAIL: $2"; fi; }
check '[ ! -d /run/systemd/system ]' "the host's systemd is visible to the maintainer scripts"

! getent passwd quartet >/dev/null || { echo "overlay: a quartet user exists already; skipping"; exit 0; }
dpkg -i "$deb"
check '[ "$(dpkg-query -W -f="\${Status}" quartet)" = "install ok installed" ]' "not installed"
check 'getent passwd quartet | grep -q ":/var/lib/quartet:/usr/sbin/nologin$"' "no quartet system user with nologin: $(getent passwd quartet)"
check 'getent group quartet >/dev/null' "no quartet group"
check '[ "$(stat -c "%a %U %G" /var/lib/quartet)" = "755 root root" ]' "/var/lib/quartet is $(stat -c "%a %U %G" /var/lib/quartet)"
check '[ -f /etc/quartet/wales.example.json ] && [ ! -e /etc/quartet/wales.example.json.dpkg-new ]' "conffiles not in place"
check 'quartet --version >/dev/null' "the installed binary does not run"
check 'man -w quartet >/dev/null' "man quartet finds no page"
# An upgrade over itself: postinst runs again with the old version and repairs the mode.
chmod 0777 /var/lib/quartet
chown quartet:quartet /var/lib/quartet
# What the node's user may have left there while it owned the directory (0.1.0): a link to a
# root directory, where root would later make a node's directory, is moved aside.
ln -s /etc /var/lib/quartet/staging
dpkg -i "$deb"
check '[ "$(stat -c "%a %U" /var/lib/quartet)" = "755 root" ]' "postinst did not repair the mode and owner of /var/lib/quartet"
check '[ ! -e /var/lib/quartet/staging ] && [ ! -L /var/lib/quartet/staging ] && [ -L /var/lib/quartet.moved-aside/staging ]' "postinst left a planted link in /var/lib/quartet"
check '[ "$(getent passwd quartet | wc -l)" = 1 ]' "the user was added twice"
mkdir -m 0700 /var/lib/quartet/wales && chown -h quartet:quartet /var/lib/quartet/wales
as_quartet /usr/bin/quartet init --log wales --data /var/lib/quartet/wales >/dev/null
dpkg --purge quartet 2>&1 | tee "$overlay/purge.txt"
check 'grep -q "still holds node data" "$overlay/purge.txt"' "purge did not say it kept the data"
check '[ -f /var/lib/quartet/wales/keys/wales.pem ]' "purge removed a node's signing key"
check '[ ! -e /usr/bin/quartet ] && [ ! -e /etc/quartet/wales.example.json ]' "purge left package files"
check 'getent passwd quartet >/dev/null' "purge removed the quartet user"
echo "overlay: done"
INSTALL
    then
        if grep -q '^INSTALL-FAIL' "$work/install.txt"; then
            fail "install on an overlay:"; grep '^INSTALL-FAIL' "$work/install.txt" >&2
        elif grep -q '^overlay: done' "$work/install.txt"; then
            ok "dpkg -i on an overlay of /etc /usr /var: postinst made the quartet user and /var/lib/quartet 0755 root; upgrade repaired its mode and owner and moved a planted link aside; purge kept a node's key"
        else
            skipped "$(grep '^overlay:' "$work/install.txt" || echo 'install on an overlay: no result')"
        fi
    else
        fail "install on an overlay failed:"; cat "$work/install.txt" >&2
    fi
else
    skipped "install on an overlay: no mount namespace here (needs CAP_SYS_ADMIN)"
fi

if [ "$failures" -gt 0 ]; then
    echo "check-package.sh: $failures check(s) failed" >&2
    exit 1
fi
echo "check-package.sh: all checks passed"
