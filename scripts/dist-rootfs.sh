#!/bin/bash
# Print the path of a cached Debian root for packaging tests, creating it with
# debootstrap on first use (with systemd, and curl as an OpenSSL 1.1 client).
# Keyed by suite: bullseye has glibc 2.31 and
# systemd 247, the closest Debian to Ubuntu 20.04.
#
#   scripts/dist-rootfs.sh [SUITE]      -> prints e.g. /var/cache/metrist-ebpf-test/bullseye
#   scripts/dist-rootfs.sh SUITE PKG,PKG  -> the same with more packages, cached
#                                          apart (e.g. bullseye+wget+gnupg)
#
# The root is never modified by tests: they copy it first. Exit status 77
# (and a loud message on stderr) when the root does not exist and the Debian
# mirror is unreachable, so callers can skip instead of fail.
set -eu
suite=${1:-bullseye}
extra=${2:-}
cache=${METRIST_TEST_CACHE:-/var/cache/metrist-ebpf-test}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
root=$cache/$suite${extra:++${extra//,/+}}
# Bump when the package list below changes, so stale caches are rebuilt.
stamp_want="v2 minbase systemd,systemd-sysv,dbus,curl${extra:+,$extra}"

if [ -f "$root/.metrist-root-ok" ] && [ "$(cat "$root/.metrist-root-ok")" = "$stamp_want" ]; then
	echo "$root"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "error: creating $root needs root (debootstrap)" >&2
	exit 1
fi
if ! command -v debootstrap >/dev/null; then
	echo "error: debootstrap is not installed (make test-dist installs it)" >&2
	exit 1
fi
hostport=${mirror#*://}
hostport=${hostport%%/*}
case $hostport in *:*) ;; *) hostport=$hostport:80 ;; esac
if ! timeout 20 bash -c "exec 3<>/dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null &&
   ! timeout 20 wget -q -O /dev/null "$mirror/dists/$suite/Release" 2>/dev/null &&
   ! timeout 20 curl -fsS -o /dev/null "$mirror/dists/$suite/Release" 2>/dev/null; then
	{
		echo "################################################################"
		echo "SKIP: the Debian mirror $mirror is unreachable and there is no"
		echo "cached $suite root in $root: tests that need it are SKIPPED."
		echo "################################################################"
	} >&2
	exit 77
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.$suite.XXXXXX")
echo "creating the $suite root in $root with debootstrap (a few minutes, once)" >&2
if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl${extra:+,$extra} \
	"$suite" "$tmp" "$mirror" >"$tmp.log" 2>&1; then
	tail -20 "$tmp.log" >&2
	rm -rf "$tmp"
	echo "error: debootstrap $suite failed (log: $tmp.log)" >&2
	exit 1
fi
rm -f "$tmp.log"
# Fresh roots have no apt lists; keep it that way (tests install local .debs).
echo "$stamp_want" >"$tmp/.metrist-root-ok"
rm -rf "$root"
mv "$tmp" "$root"
echo "$root"
