#!/bin/bash
# Print the directory holding the cached kernel-matrix images (make
# test-kernels), creating them from Debian packages on first use:
#
#   DIR/root.ext4             a Debian bullseye root (glibc 2.31, curl 7.74 /
#                             OpenSSL 1.1 with nghttp2, wget 1.21 / GnuTLS
#                             3.7, nghttpd (an HTTP/2 server), python3 3.9,
#                             bpftool) as an ext4 image; booted read-write
#                             under qemu's snapshot=on, so it never changes
#   DIR/<suite>/vmlinuz       linux-image-amd64 of bullseye (5.10), bookworm
#   DIR/<suite>/initrd.img    (6.1) and trixie (6.12), with an initramfs that
#   DIR/<suite>/version       holds only what booting that root needs
#
#   scripts/kernel-images.sh     -> prints e.g. /var/cache/metrist-ebpf-test/kernels-v2
#
# Same conventions as scripts/dist-rootfs.sh: cached under
# /var/cache/metrist-ebpf-test (METRIST_TEST_CACHE), exit status 77 with a
# loud message when nothing is cached and the Debian mirror is unreachable,
# so callers can skip instead of fail. KERNEL_TEST_REFRESH=1 rebuilds (to
# pick up newer kernels of the suites).
#
# Everything is built in one go (the root, then each kernel's initramfs
# inside that root with bullseye's initramfs-tools), then the build root and
# the kernel packages are deleted: what stays is ~300 MB.
set -eu
cache=${METRIST_TEST_CACHE:-/var/cache/metrist-ebpf-test}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
suites="bullseye bookworm trixie"
# Bump both when the recipe below changes, so stale caches are rebuilt. The
# directory carries the version: a tree with an older recipe (another
# worktree, the branch before a merge) keeps its own cache instead of
# rebuilding this one on every alternate run.
out=$cache/kernels-v2
stamp_want="v2 bullseye-root curl,python3,openssl,procps,iproute2,bpftool,wget,nghttp2-server kernels:$suites"

cached_ok() {
	[ -f "$out/.metrist-kernels-ok" ] && [ "$(cat "$out/.metrist-kernels-ok")" = "$stamp_want" ] || return 1
	local s
	for s in $suites; do
		[ -s "$out/$s/vmlinuz" ] && [ -s "$out/$s/initrd.img" ] || return 1
	done
	[ -s "$out/root.ext4" ]
}

if [ "${KERNEL_TEST_REFRESH:-0}" != 1 ] && cached_ok; then
	echo "$out"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "error: creating $out needs root (debootstrap, chroot)" >&2
	exit 1
fi
for tool in debootstrap mkfs.ext4 apt-get dpkg-deb; do
	if ! command -v "$tool" >/dev/null; then
		echo "error: $tool is not installed (make test-kernels installs it)" >&2
		exit 1
	fi
done
hostport=${mirror#*://}
hostport=${hostport%%/*}
case $hostport in *:*) ;; *) hostport=$hostport:80 ;; esac
if ! timeout 20 bash -c "exec 3<>/dev/tcp/${hostport%:*}/${hostport##*:}" 2>/dev/null &&
   ! timeout 20 curl -fsS -o /dev/null "$mirror/dists/bullseye/Release" 2>/dev/null; then
	{
		echo "################################################################"
		echo "SKIP: the Debian mirror $mirror is unreachable and there are no"
		echo "cached kernel images in $out: the kernel matrix is SKIPPED."
		echo "################################################################"
	} >&2
	exit 77
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.kernels-build.XXXXXX")
root=$work/root
cleanup() {
	# A failed build must not leave proc mounted inside the tree we delete.
	umount "$root/proc" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
log=$work/log
step() { echo "kernel-images: $*" >&2; }
fail() {
	tail -30 "$log" >&2 || true
	echo "error: $*" >&2
	exit 1
}

t0=$(date +%s)
step "debootstrap bullseye (a few minutes, once)"
# initramfs-tools (and kmod) are only there to build each kernel's initramfs
# in a userland that boots it; the guest test needs curl (OpenSSL, and
# HTTP/2 through libnghttp2), python3, openssl (test certificate), procps
# (pgrep/ps), iproute2 (loopback), bpftool, wget (the GnuTLS client) and
# nghttp2-server (nghttpd: an HTTP/2-only TLS server, 256 kB).
if ! debootstrap --variant=minbase \
	--include=curl,python3,openssl,procps,iproute2,bpftool,wget,nghttp2-server,initramfs-tools,kmod \
	bullseye "$root" "$mirror" >"$log" 2>&1; then
	fail "debootstrap bullseye failed"
fi

# The initramfs only has to find a virtio disk and mount ext4 (and feed the
# kernel entropy: key generation at boot otherwise stalls). MODULES=list keeps
# it small and its build short; gzip is understood by every kernel here.
sed -i -e 's/^MODULES=.*/MODULES=list/' -e 's/^COMPRESS=.*/COMPRESS=gzip/' \
	"$root/etc/initramfs-tools/initramfs.conf"
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic virtio_rng \
	>>"$root/etc/initramfs-tools/modules"

# apt-get with its own state, one source per suite: nothing on the host
# (sources, lists, status) is read or changed.
fetch_kernel() {
	local suite=$1 dest=$2 a=$work/apt-$1 pkg
	mkdir -p "$a/lists/partial" "$a/archives/partial" "$a/cache"
	: >"$a/status"
	echo "deb $mirror $suite main" >"$a/sources.list"
	local opts=(-o "Dir::Etc::SourceList=$a/sources.list" -o Dir::Etc::SourceParts=/nonexistent
		-o Dir::Etc::PreferencesParts=/nonexistent -o "Dir::State::Lists=$a/lists"
		-o "Dir::State::Status=$a/status" -o "Dir::Cache=$a/cache"
		-o "Dir::Cache::Archives=$a/archives" -o APT::Architecture=amd64
		-o Acquire::Languages=none -o Debug::NoLocking=1)
	apt-get "${opts[@]}" -qq update >>"$log" 2>&1 || return 1
	# linux-image-amd64 is a metapackage: the kernel is the package it depends on.
	pkg=$(apt-cache "${opts[@]}" depends linux-image-amd64 2>>"$log" |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ -n "$pkg" ] || return 1
	step "$suite: $pkg"
	(cd "$dest" && apt-get "${opts[@]}" -qq download "$pkg") >>"$log" 2>&1 || return 1
	rm -rf "$a"
}

mkdir -p "$work/out"
mount -t proc proc "$root/proc"
for suite in $suites; do
	k=$work/k-$suite
	mkdir -p "$k/deb" "$k/x" "$work/out/$suite"
	fetch_kernel "$suite" "$k/deb" || fail "could not fetch $suite's kernel"
	dpkg-deb -x "$k"/deb/*.deb "$k/x" || fail "could not unpack $suite's kernel"
	# Newer suites ship modules under /usr/lib (the /usr merge).
	moddir=$(ls -d "$k"/x/lib/modules/* "$k"/x/usr/lib/modules/* 2>/dev/null | head -1)
	[ -n "$moddir" ] || fail "no modules in $suite's kernel package"
	ver=${moddir##*/}
	cp "$k/x/boot/vmlinuz-$ver" "$work/out/$suite/vmlinuz"
	echo "$ver" >"$work/out/$suite/version"
	# Build its initramfs inside the bullseye root, with the modules there
	# only for as long as that takes (the root image does not need them).
	rm -rf "$root/lib/modules/$ver"
	mkdir -p "$root/lib/modules"
	mv "$moddir" "$root/lib/modules/$ver"
	rm -rf "$k"
	step "$suite: initramfs for $ver"
	chroot "$root" depmod -a "$ver" >>"$log" 2>&1 || fail "depmod $ver failed"
	chroot "$root" mkinitramfs -o "/tmp/initrd.img-$ver" "$ver" >>"$log" 2>&1 ||
		fail "mkinitramfs $ver failed"
	mv "$root/tmp/initrd.img-$ver" "$work/out/$suite/initrd.img"
	rm -rf "$root/lib/modules/$ver"
done
umount "$root/proc"

# PID 1 of the guest: the test itself comes on a second disk (the payload,
# made per run), so changing the test never rebuilds this image.
cat >"$root/metrist-init" <<'EOF'
#!/bin/sh
# PID 1 of a kernel-matrix guest (scripts/kernel-images.sh): mount the payload
# disk and hand over to its guest script; power off if that is impossible.
mount -t proc proc /proc
mount -t sysfs sys /sys 2>/dev/null  # the initramfs may have moved its own here
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /payload
if mount -o ro /dev/vdb /payload && [ -x /payload/guest-init.sh ]; then
	exec /payload/guest-init.sh
fi
echo "METRIST-GUEST-FATAL no payload disk (/dev/vdb)"
echo o >/proc/sysrq-trigger
sleep 30
EOF
chmod 0755 "$root/metrist-init"
# What the image does not need: apt's caches, docs, the initramfs builder's
# output directory.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
	"$root"/usr/share/doc "$root"/usr/share/man "$root"/usr/share/locale "$root"/boot/*
size_mb=$(($(du -sm "$root" | cut -f1) * 13 / 10 + 64))
step "root image (${size_mb} MB)"
mkfs.ext4 -q -F -L metrist-root -d "$root" "$work/out/root.ext4" "${size_mb}M" >>"$log" 2>&1 ||
	fail "mkfs.ext4 -d failed"
echo "$stamp_want" >"$work/out/.metrist-kernels-ok"
rm -rf "$out"
mv "$work/out" "$out"
step "done in $(($(date +%s) - t0)) s: $(du -sh "$out" | cut -f1) in $out"
echo "$out"
