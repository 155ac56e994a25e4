# Shared helpers for tests/dist/*.sh (sourced; bash).
# Counters, a loud SKIP, and throw-away copies of the cached Debian root
# (scripts/dist-rootfs.sh) with /proc, /sys and /dev mounted for chroot runs.

NAME=metrist-orchestrator-ebpf-plugin
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
passed=0 failed=0 skipped=0
WORK=$(mktemp -d /var/tmp/metrist-dist-test.XXXXXX)
LOG=$WORK/log
MOUNTED=()

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
skip() {
	skipped=$((skipped + 1))
	echo "SKIP: $*"
}
# check "description" command... : pass when the command succeeds; its output
# goes to $LOG and is shown on failure.
check() {
	local what=$1
	shift
	if "$@" >"$LOG" 2>&1; then
		pass "$what"
	else
		fail "$what (exit $?)"
		sed 's/^/    | /' "$LOG" | tail -20
	fi
}
# check_not "description" command... : pass when the command FAILS.
check_not() {
	local what=$1
	shift
	if "$@" >"$LOG" 2>&1; then
		fail "$what (unexpectedly succeeded)"
		sed 's/^/    | /' "$LOG" | tail -20
	else
		pass "$what"
	fi
}
summary() {
	echo "== $(basename "$0"): $passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
}

# Sets BASE_ROOT to the cached bullseye root, or empties it and sets
# ROOTFS_SKIP_REASON (the loud message is printed by dist-rootfs.sh).
BASE_ROOT= ROOTFS_SKIP_REASON=
cached_root() {
	local rc
	BASE_ROOT=$("$TOP/scripts/dist-rootfs.sh" bullseye)
	rc=$?
	if [ $rc = 77 ]; then
		BASE_ROOT= ROOTFS_SKIP_REASON="Debian mirror unreachable and no cached bullseye root"
	elif [ $rc != 0 ]; then
		BASE_ROOT= ROOTFS_SKIP_REASON="could not create the bullseye root (exit $rc)"
	fi
}

# root_copy NAME: a private copy of the cached root, printed.
root_copy() {
	local dst=$WORK/$1
	cp -a --reflink=auto "$BASE_ROOT" "$dst" && echo "$dst"
}

# root_mount DIR: what the daemon needs in a chroot (/proc for maps and
# roots, /sys for uprobe PMU type, /dev/null...).
root_mount() {
	local r=$1
	mount -t proc proc "$r/proc" &&
		mount --rbind /sys "$r/sys" && mount --make-rslave "$r/sys" &&
		mount --bind /dev "$r/dev" || return 1
	MOUNTED+=("$r")
}

cleanup() {
	local r
	for r in "${MOUNTED[@]}"; do
		umount -R "$r/proc" "$r/sys" "$r/dev" 2>/dev/null ||
			umount -R -l "$r/proc" "$r/sys" "$r/dev" 2>/dev/null
	done
	# Never cross into a mount that could not be undone (e.g. the host's /dev).
	if findmnt -rn -o TARGET | grep -q "^$WORK/"; then
		echo "warning: mounts left under $WORK; not removing it" >&2
	else
		rm -rf --one-file-system "$WORK"
	fi
}
trap cleanup EXIT
