#!/usr/bin/env bash
# Builds the Debian package of Vigil with dpkg-deb (cargo-deb's job, without cargo-deb):
# <target>/debian/vigil_<version>_<arch>.deb holding the binary, the systemd unit, its
# options file and the maintainer scripts of packaging/.
#
#   packaging/build-deb.sh                # cargo build --release --bin vigil, then package
#   packaging/build-deb.sh --bin PATH     # package a binary built already
#   packaging/build-deb.sh --out DIR      # put the .deb in DIR
#
# <target> is $CARGO_TARGET_DIR, else ./target. The version is the binary's own
# (`vigil --version`), so the package never claims another. Prints the .deb's path.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '5,7p' "$0" | sed 's/^# *//' >&2; exit 2; }
bin=""
out=""
while [ $# -gt 0 ]; do
    case "$1" in
    --bin) [ $# -ge 2 ] || usage; bin="$2"; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out="$2"; shift 2 ;;
    *) echo "build-deb.sh: unknown argument: $1" >&2; usage ;;
    esac
done
for tool in dpkg-deb dpkg-shlibdeps strip; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done

target="${CARGO_TARGET_DIR:-target}"
if [ -z "$bin" ]; then
    cargo build --release --bin vigil >&2
    bin="$target/release/vigil"
fi
[ -f "$bin" ] && [ -x "$bin" ] || { echo "build-deb.sh: $bin is not an executable file" >&2; exit 1; }
out="${out:-$target/debian}"

version=$("$bin" --version | awk '$1 == "vigil" { print $2 }')
[ -n "$version" ] || { echo "build-deb.sh: $bin --version does not say vigil <version>" >&2; exit 1; }
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# dpkg-shlibdeps expects the tree where debhelper would put it: debian/<package>.
root="$stage/debian/vigil"
doc="$root/usr/share/doc/vigil"
install -D -m 0755 "$bin" "$root/usr/bin/vigil"
# Without DWARF the binary is a fraction of its size; panics still name functions.
strip --strip-debug "$root/usr/bin/vigil"
install -D -m 0644 packaging/vigil.service "$root/usr/lib/systemd/system/vigil.service"
install -D -m 0644 packaging/vigil.toml "$root/etc/vigil/vigil.toml"
install -D -m 0644 packaging/on-access.conf "$doc/examples/on-access.conf"
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
install -m 0644 README.md "$doc/README.md"

install -d "$root/DEBIAN"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"
done
echo /etc/vigil/vigil.toml >"$root/DEBIAN/conffiles"
(cd "$root" && find usr -type f -exec md5sum {} + | sort -k 2) >"$root/DEBIAN/md5sums"

# dpkg-shlibdeps reads the shared libraries' packages from the dpkg database; it wants
# a debian/control to know the package it works for.
printf 'Source: vigil\n\nPackage: vigil\nArchitecture: any\n' >"$stage/debian/control"
shlibs=$(cd "$stage" && dpkg-shlibdeps -O -e debian/vigil/usr/bin/vigil | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "build-deb.sh: dpkg-shlibdeps found no library dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SHLIBS@/$shlibs/" -e "s/@SIZE@/$size/" \
    packaging/debian/control.in >"$root/DEBIAN/control"

mkdir -p "$out"
deb="$out/vigil_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
