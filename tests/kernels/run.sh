#!/bin/bash
# Kernel matrix (issue 18): boot Debian's own kernels under qemu and run the
# released static daemon inside each guest against real clients
# (tests/kernels/guest.py), on a Debian bullseye userland.
#
#   tests/kernels/run.sh DAEMON
#
# One line per check ("ok ..." / "FAIL ..."), a table per kernel and mode,
# then exactly "N passed, N failed"; exit status 1 when a check failed.
#
# Settings (environment):
#   KERNEL_TEST_MATRIX   space-separated SUITE:MODE runs; MODE is "default",
#                        "system-wide" (adds --system-wide-probes) or
#                        "per-process" (adds --per-process-probes: before 6.6
#                        the daemon's default is system-wide; its one-shot
#                        misses there are measured, not failed).
#                        Default: 5.10 and 6.1 default and per-process, 6.12
#                        default.
#   KERNEL_TEST_QUICK=1  the bounded subset: KERNEL_TEST_QUICK_MATRIX
#                        (default "bullseye:default trixie:default") with
#                        3 one-shot curls instead of 8
#   KERNEL_TEST_ACCEL    auto (default: KVM if it boots a kernel within
#                        30 s, else TCG), kvm or tcg
#   KERNEL_TEST_DAEMON_ARGS  extra daemon arguments for every run
#   KERNEL_TEST_ONESHOT_GAP  seconds between one-shot curls (default 0)
#   KERNEL_TEST_TIMEOUT  seconds per qemu run (default 600; a run takes 25-65 s,
#                        190 s seen on a host under heavy load)
#   KERNEL_TEST_OUT      where console logs go (default build-kernels/)
set -eu
top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/kernels
daemon=${1:?usage: $0 DAEMON}
daemon=$(readlink -f "$daemon")
[ -x "$daemon" ] || { echo "error: $daemon is not an executable" >&2; exit 1; }
quick=${KERNEL_TEST_QUICK:-0}
if [ "$quick" = 1 ]; then
	matrix=${KERNEL_TEST_MATRIX:-${KERNEL_TEST_QUICK_MATRIX:-bullseye:default bookworm:default trixie:default}}
	oneshot=3
else
	matrix=${KERNEL_TEST_MATRIX:-bullseye:default bullseye:per-process bookworm:default bookworm:per-process trixie:default}
	oneshot=8
fi
run_timeout=${KERNEL_TEST_TIMEOUT:-600}
outdir=${KERNEL_TEST_OUT:-$top/build-kernels}
passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok   $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }
finish() {
	echo "$passed passed, $failed failed"
	if [ "$failed" = 0 ]; then exit 0; fi
	exit 1
}

t_all=$(date +%s)
rc=0
images=$("$top/scripts/kernel-images.sh") || rc=$?
if [ $rc = 77 ]; then
	echo "SKIP: kernel matrix skipped (Debian mirror unreachable, nothing cached)"
	finish
elif [ $rc != 0 ]; then
	fail "kernel images: scripts/kernel-images.sh exited $rc"
	finish
fi
echo "images: $images (ready after $(($(date +%s) - t_all)) s)"

work=$(mktemp -d /tmp/metrist-kernels.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$outdir"

# The Go client of the guest (tests/e2e/go_calls), with symbols and -s -w:
# static (CGO_ENABLED=0), so it runs on the guest's userland whatever the
# host's libc; built offline with Debian's golang-go, as the e2e tests do.
go_bin=$work/go
mkdir -p "$go_bin"
go_built=0
if command -v "${GO:-go}" >/dev/null; then
	go_build() {
		env GOCACHE="$top/build/tests/go/cache" GOPATH="$work/gopath" HOME="$work" CGO_ENABLED=0 \
			GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-mod=mod GOTELEMETRY=off GO111MODULE=auto \
			"${GO:-go}" build "$@" "$top/tests/e2e/go_calls/main.go"
	}
	if go_build -o "$go_bin/go_calls" && go_build -ldflags='-s -w' -o "$go_bin/go_calls-stripped"; then
		go_built=1
	fi
fi
if [ "$go_built" = 1 ]; then
	pass "go client built static (go_calls, go_calls-stripped; $("${GO:-go}" env GOVERSION))"
else
	fail "go client: cannot build tests/e2e/go_calls static (golang-go missing or build failed)"
fi

# payload_image NAME ENVLINES...: the second disk of a guest (its test, the
# daemon, the run's settings), small and made per run in well under a second.
payload_image() {
	local name=$1 dir=$work/payload-$1
	shift
	rm -rf "$dir"
	mkdir -p "$dir"
	cp "$here/guest-init.sh" "$here/guest.py" "$top/tests/e2e/tls_server.py" \
		"$top/tests/e2e/seccomp_client.py" "$dir/"
	cp "$daemon" "$dir/metrist-orchestrator-ebpf-plugin"
	cp "$go_bin"/go_calls* "$dir/" 2>/dev/null || true
	chmod 0755 "$dir"/*.sh "$dir"/*.py "$dir/metrist-orchestrator-ebpf-plugin"
	printf '%s\n' "$@" >"$dir/env"
	local mb=$(($(du -sm "$dir" | cut -f1) + 16))
	mkfs.ext4 -q -F -d "$dir" "$work/$name.img" "${mb}M" >/dev/null
	echo "$work/$name.img"
}

# boot SUITE ACCEL PAYLOAD CONSOLE TIMEOUT: one guest, to its power-off (or
# the timeout). qemu's own messages go to CONSOLE.qemu.
boot() {
	local suite=$1 accel=$2 payload=$3 console=$4 limit=$5 cpu=max
	[ "$accel" = kvm ] && cpu=host
	timeout --kill-after=10 "$limit" qemu-system-x86_64 \
		-accel "$accel" -cpu "$cpu" -smp 2 -m 1024 \
		-nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$console" -monitor none \
		-kernel "$images/$suite/vmlinuz" -initrd "$images/$suite/initrd.img" \
		-append "console=ttyS0 root=/dev/vda rw init=/metrist-init panic=-1 loglevel=4 mitigations=off" \
		-drive "file=$images/root.ext4,if=virtio,format=raw,snapshot=on" \
		-drive "file=$payload,if=virtio,format=raw,readonly=on" \
		-device virtio-rng-pci >"$console.qemu" 2>&1
}

# ---- accelerator --------------------------------------------------------------
# FACTS.md: /dev/kvm may exist (nested virtualisation) yet not boot a stock
# Debian kernel (hang or emulation failure). One short KVM boot decides.
accel=${KERNEL_TEST_ACCEL:-auto}
first_suite=${matrix%%:*}
if [ "$accel" = auto ]; then
	if [ ! -w /dev/kvm ]; then
		accel=tcg
		echo "accelerator: tcg (no usable /dev/kvm)"
	else
		p=$(payload_image probe KT_PROBE_ONLY=1)
		t=$(date +%s)
		boot "$first_suite" kvm "$p" "$outdir/kvm-probe.console" 30 || true
		if tr -d '\r' <"$outdir/kvm-probe.console" | grep -q '^METRIST-GUEST-DONE rc=0'; then
			accel=kvm
			echo "accelerator: kvm (a $first_suite guest booted in $(($(date +%s) - t)) s)"
		else
			accel=tcg
			echo "accelerator: tcg (KVM did not boot $first_suite within 30 s:" \
				"$(tr -d '\r' <"$outdir/kvm-probe.console.qemu" | grep -v '^$' | tail -1 | cut -c1-120))"
		fi
	fi
else
	echo "accelerator: $accel (KERNEL_TEST_ACCEL)"
fi
# Guests under TCG run slower than native (FACTS.md: 10-30x; a one-shot curl
# takes ~0.5 s here): the guest scales its timeouts and the SIGTERM limit by
# this factor.
scale=5
[ "$accel" = kvm ] && scale=2

# ---- the runs ---------------------------------------------------------------------
table=()
for entry in $matrix; do
	suite=${entry%%:*} mode=${entry#*:}
	case $mode in
	default) args="" ;;
	system-wide) args="--system-wide-probes" ;;
	per-process) args="--per-process-probes" ;;
	*) fail "matrix entry $entry: unknown mode $mode"; continue ;;
	esac
	args="$args ${KERNEL_TEST_DAEMON_ARGS:-}"
	if [ ! -s "$images/$suite/vmlinuz" ]; then
		fail "matrix entry $entry: no cached kernel for $suite"
		continue
	fi
	kver=$(cat "$images/$suite/version")
	tag="${kver%%-*}/$mode"
	console=$outdir/$suite-$mode.console
	p=$(payload_image "$suite-$mode" "KT_DAEMON_ARGS=${args# }" "KT_ONESHOT=$oneshot" "KT_TIME_SCALE=$scale" \
		"KT_ONESHOT_GAP=${KERNEL_TEST_ONESHOT_GAP:-0}")
	echo "== $tag: booting $kver ($accel, timeout ${run_timeout} s), console: $console"
	t=$(date +%s)
	qrc=0
	boot "$suite" "$accel" "$p" "$console" "$run_timeout" || qrc=$?
	wall=$(($(date +%s) - t))
	c=$(tr -d '\r' <"$console")
	if ! grep -q '^METRIST-GUEST-FAILURES ' <<<"$c"; then
		fail "$tag guest_completed: no summary from the guest (qemu exit $qrc after $wall s); console tail:"
		tail -25 <<<"$c" | sed 's/^/    | /'
		sed 's/^/    | qemu: /' "$console.qemu" | tail -5
		table+=("$(printf '%-15s %-12s %s' "${kver%%-*}" "$mode" "no result (qemu exit $qrc, ${wall} s)")")
		continue
	fi
	pass "$tag guest_completed in $wall s"
	while read -r _ status name detail; do
		if [ "$status" = ok ]; then
			pass "$tag $name: $detail"
		else
			fail "$tag $name: $detail"
		fi
	done < <(grep '^METRIST-CHECK ' <<<"$c")
	# A failed run shows the daemon's log and the merged timeline.
	if grep -q '^METRIST-CHECK FAIL ' <<<"$c"; then
		echo "    --- $tag: daemon log (no libbpf lines) and timeline, from $console ---"
		grep -E '^METRIST-(LOG|TIMELINE) ' <<<"$c" | grep -v 'METRIST-LOG list-targets' |
			sed -e 's/^METRIST-[A-Z]* /    | /' | tail -120
	fi
	res() { grep "^METRIST-RESULT $1=" <<<"$c" | head -1 | cut -d= -f2-; }
	table+=("$(printf '%-15s %-12s %-19s %6s/%-7s %-8s %-15s %-15s %-6s %-7s %5ss' "${kver%%-*}" "$mode" \
		"$(res attach_path)" "$(res calls_seen)" "$(res calls_expected)" "$(res oneshot)" \
		"$(res attach_avg_us)/$(res attach_max_us)" \
		"$(res map_to_attach_avg_us)/$(res map_to_attach_max_us)" \
		"$(res ready_s)s" "$(res sigterm_exit_s)s" "$wall")")
	for k in data_probes h2_calls gnutls_calls go_calls idle_wakeups_per_s known_misses return_probes warmer syscall335_direct_under_filter \
		seccomp_late seccomp_inherited seccomp_skipped_calls_seen server_links server_probes; do
		v=$(res $k)
		if [ -n "$v" ]; then echo "    $tag $k: $v"; fi
	done
done

echo
echo "kernel matrix ($accel; one-shot clients per run: $oneshot curl + 1 POST (HTTP/1.1)," \
	"2 curl --http2, 1 wget (GnuTLS), 2 Go (HTTP/1.1, one -s -w); total $(($(date +%s) - t_all)) s)"
printf '%-15s %-12s %-19s %-14s %-8s %-15s %-15s %-6s %-7s %6s\n' kernel mode "attach path" \
	"calls seen/exp" one-shot "attach us" "map->attach us" ready sigterm wall
printf '%-15s %-12s %-19s %-14s %-8s %-15s %-15s %-6s %-7s %6s\n' "" "" "" "" "" "avg/max" "avg/max" "" "" ""
for row in "${table[@]}"; do
	echo "$row"
done
echo
finish
