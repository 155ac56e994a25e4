#!/bin/bash
# The install commands users already have (the seed's documentation of the
# plugin), run verbatim against the release files served over HTTP (make
# test-dist):
#   - the release files of OUT_DIR laid out as the download site serves them
#     (scripts/publish-tree.sh), served by a local HTTP server as
#     http://dist.metrist.io/orchestrator-plugins/ebpf/ (the name resolved to
#     127.0.0.1 inside a private network namespace, port 80 there);
#   - "Other systems" (curl latest-x86_64.txt, wget $latest.tar.gz and .asc,
#     gpg --verify, tar xvfz) and "Ubuntu 20.04" (curl the ubuntu index, wget
#     the .deb and .asc, gpg --verify, apt-get install -y ./metrist*.deb), each
#     in a clean Debian bullseye root (curl, wget, gnupg) whose user imported
#     the shipped keyring first, as the documentation asks.
#
# Usage: tests/dist/seed.sh BUILT_EXECUTABLE OUT_DIR   (OUT_DIR signed, by run.sh)
set -uo pipefail
EXE=$(readlink -f "$1")
OUT=$(readlink -m "$2")
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "tests/dist/seed.sh needs root" >&2; exit 1; }

describe=$("$EXE" --version | awk '{ print $2 }')
VERSION=$("$TOP/scripts/dist-version.sh" "$describe")
[ -f "$OUT/metrist-archive-keyring.gpg" ] || { fail "no signed release files in $OUT (run tests/dist/run.sh)"; summary; exit; }

BASE_ROOT=$("$TOP/scripts/dist-rootfs.sh" bullseye wget,gnupg)
rc=$?
if [ $rc != 0 ]; then
	reason="no bullseye root with wget and gnupg (dist-rootfs.sh exit $rc)"
	[ $rc = 77 ] && reason="Debian mirror unreachable and no cached bullseye root with wget and gnupg"
	echo "#####################################################################"
	echo "SKIPPING the seed's install commands: $reason"
	echo "#####################################################################"
	skip "seed install commands ($reason)"
	summary
	exit
fi

SITE=$WORK/site/orchestrator-plugins/ebpf
check "publish-tree.sh lays the release out as the download site" "$TOP/scripts/publish-tree.sh" "$OUT" "$SITE"
check "latest-x86_64.txt holds the tarball's name without .tar.gz" \
	sh -c "[ \"\$(cat '$SITE/latest-x86_64.txt')\" = '$NAME-$VERSION-x86_64' ]"
check "the Ubuntu index holds the full .deb name" \
	sh -c "[ \"\$(cat '$SITE/ubuntu/20.04.x86_64.latest.txt')\" = '${NAME}_${VERSION}_amd64.deb' ]"

# Runs a script in root $1 with dist.metrist.io served from $SITE on port 80
# of a network namespace of its own.
served() {
	local r=$1 script=$2
	unshare --net bash -c '
		ip link set lo up || exit 1
		python3 -m http.server 80 --bind 127.0.0.1 --directory "$1" >"$2/http.log" 2>&1 &
		srv=$!
		for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/80) 2>/dev/null && break; sleep 0.1; done
		chroot "$3" bash -e -x -c "$4"
		rc=$?
		kill $srv
		exit $rc' - "$WORK/site" "$WORK" "$r" "$script"
}

# A clean root whose root user trusts the shipped keyring, in $ROOT (not in
# a subshell: lib.sh's cleanup must know the mounts).
prepare() {
	ROOT=$(root_copy "$1") && root_mount "$ROOT" || return 1
	echo '127.0.0.1 localhost dist.metrist.io' >"$ROOT/etc/hosts"
	cp "$OUT/metrist-archive-keyring.gpg" "$ROOT/var/tmp/"
	chroot "$ROOT" gpg --batch --quiet --import /var/tmp/metrist-archive-keyring.gpg >/dev/null 2>&1
}

# ---- "Other systems", verbatim ----------------------------------------------------------
if prepare seed-tarball; then
	T=$ROOT
	check "seed: the tarball's commands, verbatim" served "$T" '
mkdir -p /var/tmp/by-hand && cd /var/tmp/by-hand
latest=$(curl http://dist.metrist.io/orchestrator-plugins/ebpf/latest-x86_64.txt)
wget http://dist.metrist.io/orchestrator-plugins/ebpf/$latest.tar.gz
wget http://dist.metrist.io/orchestrator-plugins/ebpf/$latest.tar.gz.asc
gpg --verify $latest.tar.gz.asc
tar xvfz $latest.tar.gz
'
	cp "$LOG" "$WORK/seed-tarball.out"
	check "seed: gpg said Good signature" grep -q 'Good signature' "$WORK/seed-tarball.out"
	check "seed: the extracted executable runs" \
		sh -c "chroot '$T' /var/tmp/by-hand/$NAME-$VERSION-x86_64/$NAME --version | grep -qx '$NAME $describe'"
else
	fail "preparing a bullseye root for the tarball's commands"
fi

# ---- "Ubuntu 20.04", verbatim --------------------------------------------------------------
if prepare seed-deb; then
	D=$ROOT
	check "seed: the .deb's commands, verbatim" served "$D" '
cd /tmp # This is important other wise apt-get install will fail
plugin_latest=$(curl http://dist.metrist.io/orchestrator-plugins/ebpf/ubuntu/20.04.x86_64.latest.txt)
wget http://dist.metrist.io/orchestrator-plugins/ebpf/ubuntu/$plugin_latest
wget http://dist.metrist.io/orchestrator-plugins/ebpf/ubuntu/$plugin_latest.asc
gpg --verify $plugin_latest.asc
apt-get install -y ./metrist*.deb
'
	cp "$LOG" "$WORK/seed-deb.out"
	check "seed: gpg said Good signature" grep -q 'Good signature' "$WORK/seed-deb.out"
	check "seed: the package is installed" \
		sh -c "chroot '$D' dpkg-query -W -f='\${Status} \${Version}' $NAME | grep -qx 'install ok installed $VERSION'"
else
	fail "preparing a bullseye root for the .deb's commands"
fi

summary
