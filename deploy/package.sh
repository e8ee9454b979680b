#!/usr/bin/env bash
# Builds the Debian package of Quartet (docs/deploy.md, "Installing the package"):
#   /usr/bin/quartet                               the release binary, Swift stdlib linked statically
#   /lib/systemd/system/quartet@.service           the hardened template unit, one instance per node
#   /etc/quartet/{wales,federation}.example.json   example configuration (conffiles)
#   /usr/share/man/man1/quartet.1.gz               the manual page
#   /usr/share/doc/quartet/{copyright,changelog.Debian.gz}, /usr/share/lintian/overrides/quartet
# and the maintainer scripts (the quartet user, /var/lib/quartet) from deploy/debian/.
#
#   deploy/package.sh [--binary PATH] [--output DIR] [--allow-shared-swift]
#
# Without --binary it runs `swift build -c release --static-swift-stdlib` under the shared
# build lock (do not call it so from a command that already holds /tmp/quartet-swift.lock).
# With --binary it packages that file as it is (CI builds the release binary once).
# --allow-shared-swift accepts a binary that needs the Swift runtime's shared libraries (a
# debug build, or a plain `swift build -c release`): the package is then fit for the structural checks only, not for a machine
# without Swift, and says so on standard error. Prints the .deb's path on standard output.
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
repo=$PWD
export PATH="/opt/swift/usr/bin:$PATH"

binary=""
output="$repo/.build/package"
allow_shared=false
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) [ $# -ge 2 ] || { echo "package.sh: --binary needs a path" >&2; exit 64; }; binary=$2; shift 2 ;;
        --output) [ $# -ge 2 ] || { echo "package.sh: --output needs a directory" >&2; exit 64; }; output=$2; shift 2 ;;
        --allow-shared-swift) allow_shared=true; shift ;;
        *) echo "package.sh: unknown argument '$1' (expected --binary PATH, --output DIR, --allow-shared-swift)" >&2; exit 64 ;;
    esac
done
for tool in dpkg-deb dpkg-shlibdeps gzip strip readelf patchelf; do
    command -v "$tool" >/dev/null || { echo "package.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done

if [ -z "$binary" ]; then
    lock=${QUARTET_SWIFT_LOCK:-/tmp/quartet-swift.lock}
    echo "package.sh: swift build -c release --static-swift-stdlib (waiting for $lock)" >&2
    # -z now, -z relro: the GOT read only after start (Debian's usual hardening, which lintian checks).
    # The checkout's path mapped away (#file strings): the same commit built in another folder
    # gives the same binary, and the build host's layout is not published in the package.
    flock "$lock" swift build -c release --static-swift-stdlib --product quartet \
        -Xswiftc -file-prefix-map -Xswiftc "$(pwd -P)=/usr/src/quartet" -Xcc "-ffile-prefix-map=$(pwd -P)=/usr/src/quartet" \
        -Xlinker -z -Xlinker now -Xlinker -z -Xlinker relro >&2
    binary="$(flock "$lock" swift build -c release --static-swift-stdlib --show-bin-path)/quartet"
fi
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then echo "package.sh: $binary is not an executable file" >&2; exit 1; fi
readelf -h "$binary" >/dev/null 2>&1 || { echo "package.sh: $binary is not an ELF executable" >&2; exit 1; }

# Self-contained: nothing from the Swift toolchain may be needed at run time.
shared_swift=$(readelf -d "$binary" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' \
    | grep -E '^lib(swift|Foundation|_Foundation|dispatch|BlocksRuntime)' || true)
if [ -n "$shared_swift" ]; then
    if $allow_shared; then
        echo "package.sh: warning: $binary needs the Swift runtime's shared libraries ($(echo "$shared_swift" | tr '\n' ' ')):" \
             "this package is for checks only and will not run without Swift installed" >&2
    else
        echo "package.sh: $binary needs the Swift runtime's shared libraries ($(echo "$shared_swift" | tr '\n' ' '));" \
             "build it with --static-swift-stdlib (or pass --allow-shared-swift for a check-only package)" >&2
        exit 1
    fi
fi

# The version is the binary's own; the Debian revision and date come from the changelog,
# whose top entry must be for that version.
version=$("$binary" --version | tr -d '[:space:]')
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || { echo "package.sh: '$binary --version' printed '$version', not a version" >&2; exit 1; }
debian="$repo/deploy/debian"
top=$(head -n 1 "$debian/changelog")
[[ "$top" =~ ^quartet\ \(([^\)]+)\) ]] || { echo "package.sh: deploy/debian/changelog does not start with a 'quartet (VERSION)' entry" >&2; exit 1; }
full_version=${BASH_REMATCH[1]}
[ "${full_version%-*}" = "$version" ] || {
    echo "package.sh: the binary is version $version but deploy/debian/changelog's top entry is $full_version; add an entry" >&2; exit 1; }
changelog_date=$(sed -n 's/^ -- .*>  \(.*\)$/\1/p' "$debian/changelog" | head -n 1)
SOURCE_DATE_EPOCH=$(date -d "$changelog_date" +%s)
export SOURCE_DATE_EPOCH
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree="$work/quartet"
install -d "$tree/DEBIAN" "$tree/usr/bin" "$tree/lib/systemd/system" "$tree/etc/quartet" \
    "$tree/usr/share/man/man1" "$tree/usr/share/doc/quartet"

# The binary, stripped of its symbol tables (Swift's metadata sections stay; backtraces lose
# function names) and of any RUNPATH (SwiftPM's points into the toolchain; a self-contained
# binary needs none, and Debian forbids it).
install -m 0755 "$binary" "$tree/usr/bin/quartet"
strip --remove-section=.comment --remove-section=.note "$tree/usr/bin/quartet"
patchelf --remove-rpath "$tree/usr/bin/quartet"
install -m 0644 "$debian/quartet@.service" "$tree/lib/systemd/system/quartet@.service"
install -m 0644 "$repo/config/wales.example.json" "$tree/etc/quartet/wales.example.json"
install -m 0644 "$repo/config/federation.example.json" "$tree/etc/quartet/federation.example.json"
sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)/" "$debian/quartet.1" \
    | gzip -9n > "$tree/usr/share/man/man1/quartet.1.gz"
install -m 0644 "$debian/copyright" "$tree/usr/share/doc/quartet/copyright"
install -d "$tree/usr/share/lintian/overrides"
install -m 0644 "$debian/lintian-overrides" "$tree/usr/share/lintian/overrides/quartet"
gzip -9n < "$debian/changelog" > "$tree/usr/share/doc/quartet/changelog.Debian.gz"
chmod 0644 "$tree/usr/share/man/man1/quartet.1.gz" "$tree/usr/share/doc/quartet/changelog.Debian.gz"
for script in postinst prerm postrm; do
    install -m 0755 "$debian/$script" "$tree/DEBIAN/$script"
done
(cd "$tree" && find etc -type f | sort | sed 's|^|/|') > "$tree/DEBIAN/conffiles"

# Shared libraries (libc, OpenSSL, SQLite, libstdc++) become dependencies with the minimal
# versions their symbols files give; dpkg-shlibdeps wants a debian/control to exist.
mkdir -p "$work/shlibs/debian"
printf 'Source: quartet\n\nPackage: quartet\nArchitecture: any\n' > "$work/shlibs/debian/control"
ignore=()
$allow_shared && ignore=(--ignore-missing-info)
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "${ignore[@]}" -e "$tree/usr/bin/quartet" 2>"$work/shlibdeps.err" \
    | sed -n 's/^shlibs:Depends=//p') || { cat "$work/shlibdeps.err" >&2; exit 1; }
[ -n "$shlibs" ] || { echo "package.sh: dpkg-shlibdeps found no shared library dependencies" >&2; cat "$work/shlibdeps.err" >&2; exit 1; }

(cd "$tree" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | sort | xargs md5sum) > "$tree/DEBIAN/md5sums"
chmod 0644 "$tree/DEBIAN/md5sums" "$tree/DEBIAN/conffiles"
# As dpkg-gencontrol counts it: each file's size in KiB rounded up, one per directory or link;
# from sizes, not disk blocks, so the same tree gives the same number on any file system.
installed_size=$(cd "$tree" && find . -path ./DEBIAN -prune -o ! -path . -printf '%y %s\n' \
    | awk '{ total += ($1 == "f") ? int(($2 + 1023) / 1024) : 1 } END { print total }')
sed -e "s/@VERSION@/$full_version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_size/" \
    -e "s/@SHLIBS_DEPENDS@/$shlibs/" "$debian/control" > "$tree/DEBIAN/control"
chmod 0644 "$tree/DEBIAN/control"
find "$tree" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$output"
deb="$output/quartet_${full_version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >&2
echo "$deb"
