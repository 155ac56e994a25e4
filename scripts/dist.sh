#!/bin/bash
# Assemble the release files from a built static executable:
#   <out>/metrist-orchestrator-ebpf-plugin-<version>-x86_64.tar.gz  + latest-x86_64.txt
#   <out>/metrist-orchestrator-ebpf-plugin_<version>_amd64.deb      + ubuntu-20.04.latest.txt
#   <out>/metrist-orchestrator-ebpf-plugin-<version>-x86_64.oci.tar (scripts/image.sh)
# The index files serve the install commands users run verbatim:
# latest-x86_64.txt holds the tarball's name WITHOUT .tar.gz (`wget
# …/$latest.tar.gz` and `…/$latest.tar.gz.asc`), ubuntu-20.04.latest.txt the
# full .deb name (`wget …/$plugin_latest`).
# and sign them (scripts/sign.sh) when a signing key is given by the
# environment (METRIST_SIGNING_KEY_FILE or METRIST_SIGNING_KEY_ID).
#
# Usage: scripts/dist.sh BUILT_EXECUTABLE OUT_DIR      (run by `make dist`)
#
# The version comes from the executable itself (`--version`, i.e. the
# `git describe` it was built with), turned into a Debian-valid version by
# scripts/dist-version.sh, so names and contents cannot disagree.
set -euo pipefail
name=metrist-orchestrator-ebpf-plugin
bin=$1
out=$2
top=$(cd "$(dirname "$0")/.." && pwd)
pkg=$top/packaging
maintainer=${DEB_MAINTAINER:-Metrist <support@metrist.io>}

describe=$("$bin" --version | awk -v n="$name" '$1 == n { print $2 }')
[ -n "$describe" ] || { echo "error: $bin --version printed no version" >&2; exit 1; }
version=$("$top/scripts/dist-version.sh" "$describe")
# Reproducible timestamps: the commit time, not the build time.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}

mkdir -p "$out"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# Release executables carry no debug info (the unstripped one stays in the build dir).
install -m 0755 "$bin" "$stage/$name"
strip --strip-all --remove-section=.comment "$stage/$name"

# ---- tarball: for any x86_64 Linux, installed by hand under /usr/local ------
tname=$name-$version-x86_64
tdir=$stage/tar/$tname
mkdir -p "$tdir"
install -m 0755 "$stage/$name" "$tdir/$name"
install -m 0644 "$top/README.md" "$top/LICENSE" "$tdir/"
sed 's|^ExecStart=/usr/bin/|ExecStart=/usr/local/bin/|' "$pkg/systemd/$name.service" >"$tdir/$name.service"
install -m 0644 "$pkg/default/$name" "$tdir/$name.default"
chmod 0644 "$tdir/$name.service"
tarball=$tname.tar.gz
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
	-C "$stage/tar" -cf - "$tname" | gzip -9n >"$out/$tarball.tmp"
mv "$out/$tarball.tmp" "$out/$tarball"
echo "$tname" >"$out/latest-x86_64.txt"

# ---- .deb for Ubuntu 20.04 (and Debian 11+) ----------------------------------
root=$stage/deb
doc=$root/usr/share/doc/$name
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
	"$root/etc/default" "$doc" "$root/usr/share/lintian/overrides" "$root/usr/share/man/man8"
install -m 0755 "$stage/$name" "$root/usr/bin/$name"
install -m 0644 "$pkg/systemd/$name.service" "$root/lib/systemd/system/$name.service"
install -m 0644 "$pkg/default/$name" "$root/etc/default/$name"
install -m 0644 "$pkg/debian/copyright" "$doc/copyright"
gzip -9n <"$pkg/man/$name.8" >"$root/usr/share/man/man8/$name.8.gz"
chmod 0644 "$root/usr/share/man/man8/$name.8.gz"
install -m 0644 "$pkg/debian/lintian-overrides" "$root/usr/share/lintian/overrides/$name"
{
	echo "$name ($version) focal; urgency=medium"
	echo
	echo "  * Release built from git $describe."
	echo
	echo " -- $maintainer  $(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"
install -m 0644 "$pkg/debian/conffiles" "$root/DEBIAN/conffiles"
install -m 0755 "$pkg/debian/postinst" "$pkg/debian/prerm" "$pkg/debian/postrm" "$root/DEBIAN/"
size=$(du -k -s --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@INSTALLED_SIZE@|$size|" \
	"$pkg/debian/control.in" >"$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z |
	xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=${name}_${version}_amd64.deb
# xz: Ubuntu 20.04's dpkg (1.19) cannot read zstd members.
dpkg-deb --root-owner-group -Zxz --build "$root" "$out/$deb.tmp" >/dev/null
mv "$out/$deb.tmp" "$out/$deb"
echo "$deb" >"$out/ubuntu-20.04.latest.txt"

echo "built $out/$tarball"
echo "built $out/$deb"

# ---- OCI image (FROM scratch, buildah) --------------------------------------------
"$top/scripts/image.sh" "$bin" "$out"
image=$name-$version-x86_64.oci.tar

# ---- signatures ----------------------------------------------------------------
if [ -n "${METRIST_SIGNING_KEY_FILE:-}${METRIST_SIGNING_KEY_ID:-}" ]; then
	"$top/scripts/sign.sh" "$out" "$out/$tarball" "$out/$deb" "$out/$image"
else
	echo "NOTE: no METRIST_SIGNING_KEY_FILE / METRIST_SIGNING_KEY_ID given: files are NOT signed" \
		"(see packaging/keys/README)" >&2
	rm -f "$out/$tarball.asc" "$out/$deb.asc" "$out/$image.asc"
fi
