#!/bin/bash
# The .deb under a real systemd (make test-dist-systemd; also run by make
# test-dist): boots the cached Debian bullseye root (systemd 247, glibc 2.31)
# with systemd-nspawn, installs the package with apt-get as a user would, and
# checks the hardened service end to end: enabled and active, `ready` in the
# journal, a real HTTPS call made inside the container is traced and its
# datagram reaches a UDP listener on 127.0.0.1:51713, restart on failure, no
# restart loop on a bad endpoint, stop on remove, purge.
#
# Usage: tests/dist/systemd.sh BUILT_EXECUTABLE OUT_DIR
#   OUT_DIR holds the release files (tests/dist/run.sh or make dist made
#   them); they are built unsigned when missing. Needs root.
set -uo pipefail
EXE=$(readlink -f "$1")
OUT=$(readlink -m "$2")
. "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || { echo "tests/dist/systemd.sh needs root" >&2; exit 1; }

describe=$("$EXE" --version | awk '{ print $2 }')
VERSION=$("$TOP/scripts/dist-version.sh" "$describe")
DEB=${NAME}_${VERSION}_amd64.deb
if [ ! -f "$OUT/$DEB" ]; then
	"$TOP/scripts/dist.sh" "$EXE" "$OUT" >/dev/null 2>&1 || { fail "building $DEB"; summary; exit; }
fi

cached_root
if [ -z "$BASE_ROOT" ]; then
	echo "#####################################################################"
	echo "SKIPPING the systemd boot test: $ROOTFS_SKIP_REASON"
	echo "#####################################################################"
	skip "systemd boot test ($ROOTFS_SKIP_REASON)"
	summary
	exit
fi
R=$(root_copy boot) || { fail "copying the bullseye root"; summary; exit; }

# nspawn keeps runtime state under /run/systemd/nspawn; where PID 1 is not
# systemd, give it a tmpfs (and take it away again).
nspawn_tmpfs=
if [ ! -d /run/systemd/system ] && ! mountpoint -q /run/systemd/nspawn; then
	mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn && nspawn_tmpfs=1
fi
NSPAWN_PID= CPID= SERVER_PID= LISTENER_PID=
stop_all() {
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	[ -n "$LISTENER_PID" ] && kill "$LISTENER_PID" 2>/dev/null
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		kill -TERM "$NSPAWN_PID" # nspawn: orderly shutdown of the container
		for _ in $(seq 60); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.5; done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	[ -n "$nspawn_tmpfs" ] && umount /run/systemd/nspawn
	cleanup
}
trap stop_all EXIT

# eBPF inside the container: the daemon's capabilities must be in the
# container's bounding set, and nspawn's own seccomp filter must allow bpf()
# and perf_event_open(). Host network (no --private-network): the container
# reaches the TLS server and the UDP listener on the host's 127.0.0.1.
systemd-nspawn --register=no --keep-unit --console=passive -D "$R" -b \
	--capability=CAP_BPF,CAP_PERFMON,CAP_SYS_ADMIN,CAP_SYS_PTRACE,CAP_DAC_READ_SEARCH,CAP_SYS_RESOURCE,CAP_CHECKPOINT_RESTORE \
	--system-call-filter='bpf perf_event_open' >"$WORK/nspawn.log" 2>&1 &
NSPAWN_PID=$!
# The container's PID 1 is the child of nspawn that runs systemd (nspawn's
# intermediate children come and go first).
CPID=
for _ in $(seq 200); do
	for p in $(ps -o pid= --ppid "$NSPAWN_PID"); do
		[ "$(cat /proc/$p/comm 2>/dev/null)" = systemd ] && CPID=$p
	done
	[ -n "$CPID" ] && break
	sleep 0.1
done
in_c() { nsenter -t "$CPID" -a "$@"; }
# Wait for the boot to finish (the bus appears a moment after PID 1 starts).
state=
for _ in $(seq 180); do
	[ -n "$CPID" ] || break
	state=$(timeout 5 nsenter -t "$CPID" -a systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	sleep 0.5
done
case $state in
running | degraded) ;;
*)
	fail "booting bullseye with systemd-nspawn (state: ${state:-none})"
	tail -20 "$WORK/nspawn.log" | sed 's/^/    | /'
	summary
	exit
	;;
esac
pass "bullseye boots under systemd-nspawn ($(in_c systemctl --version | head -1))"

# A TLS server and the Orchestrator's UDP port, on the host.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=localhost -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
PORT=$((20000 + RANDOM % 20000))
openssl s_server -quiet -www -accept "127.0.0.1:$PORT" -cert "$WORK/cert.pem" -key "$WORK/key.pem" \
	>/dev/null 2>&1 &
SERVER_PID=$!
python3 - "$WORK/udp.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 51713))
with open(sys.argv[1], "a") as out:
    while True:
        data, _ = s.recvfrom(65536)
        out.write(data.decode(errors="replace"))
        out.flush()
PY
LISTENER_PID=$!

# ---- install as README says ----------------------------------------------------------
cp "$OUT/$DEB" "$R/var/tmp/"
check "apt-get install ./$DEB (systemd running)" \
	in_c sh -c "cd /var/tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./$DEB"
check "systemctl is-enabled" in_c systemctl is-enabled "$NAME"
wait_ready() { # journal line count before, timeout in 0.2 s steps
	for _ in $(seq "$2"); do
		[ "$(in_c journalctl -u "$NAME" -o cat --no-pager | grep -c 'ready')" -gt "$1" ] && return 0
		sleep 0.2
	done
	return 1
}
check "journalctl -u shows the daemon's ready line" wait_ready 0 100
check "systemctl is-active" in_c systemctl is-active "$NAME"
check "systemctl status" in_c systemctl status --no-pager "$NAME"
check "systemd knows CAP_BPF (no CAP_SYS_ADMIN fallback drop-in)" sh -c "
	nsenter -t $CPID -a systemctl show -p CapabilityBoundingSet $NAME | grep -q cap_bpf &&
	[ ! -e '$R/etc/systemd/system/$NAME.service.d/cap-sys-admin-fallback.conf' ]"
check "systemd-analyze verify (systemd 247)" in_c systemd-analyze verify "/lib/systemd/system/$NAME.service"
score=$(in_c systemd-analyze security "$NAME" 2>/dev/null | grep 'Overall exposure level')
echo "info: systemd 247: ${score#→ }"
mainpid=$(in_c systemctl show -p MainPID --value "$NAME")
check "the service runs with no capabilities beyond the unit's six" sh -c "
	caps=\$(nsenter -t $CPID -a grep '^CapEff' /proc/$mainpid/status | awk '{ print \$2 }')
	[ \$(( 0x\$caps & ~((1<<40)|(1<<39)|(1<<38)|(1<<19)|(1<<2)|(1<<24)) )) = 0 ]"
check "the service has no-new-privs" sh -c "
	nsenter -t $CPID -a grep -Eq '^NoNewPrivs:[[:space:]]+1' /proc/$mainpid/status"
check "the service can write no core file (LimitCORE=0)" sh -c "
	nsenter -t $CPID -a cat /proc/$mainpid/limits | grep -Eq '^Max core file size +0 +0 '"

# ---- a real call, traced by the hardened service -------------------------------------
sleep 1
check "curl --http1.1 inside the container reaches the host's TLS server" \
	in_c curl -sk --http1.1 -o /dev/null "https://127.0.0.1:$PORT/metrist-dist-test?secret=1"
traced() {
	for _ in $(seq 50); do
		in_c journalctl -u "$NAME" -o cat --no-pager | grep -q "call GET 127.0.0.1:$PORT /metrist-dist-test" &&
			grep -q "GET.*127.0.0.1:$PORT.*/metrist-dist-test" "$WORK/udp.out" 2>/dev/null && return 0
		sleep 0.2
	done
	in_c journalctl -u "$NAME" -o cat --no-pager | tail -5
	cat "$WORK/udp.out" 2>/dev/null
	return 1
}
check "the call is in the journal and its datagram reached 127.0.0.1:51713" traced
check_not "the query string never left the host" grep -q secret "$WORK/udp.out"
# The control socket lives in the unit's RuntimeDirectory, under its hardening.
check "calls --json reads the service's summary through its control socket" sh -c "
	nsenter -t $CPID -a /usr/bin/$NAME calls --json | grep -q '\"template\":\"/metrist-dist-test\"'"
check "the control socket is root's alone (0600, in a 0700 directory)" sh -c "
	[ \"\$(nsenter -t $CPID -a stat -c '%a %U' /run/$NAME /run/$NAME/control.sock | tr '\\n' ' ')\" = \
	  '700 root 600 root ' ]"

# ---- one instance per host: the service in the container, a daemon by hand on the host --------
# The host sees the service's process (nspawn's pid namespace is a child of
# the host's): the daemon started by hand refuses, naming it.
svc_host_pid=$(for p in $(pgrep -x "${NAME:0:15}"); do
	[ "$(awk '/^NSpid:/ { print $NF }' /proc/$p/status)" = "$mainpid" ] && echo "$p"; done | head -1)
env METRIST_ORCHESTRATOR_ENDPOINT=127.0.0.1:9 "$EXE" >"$WORK/second.out" 2>&1
rc=$?
check "a second daemon on the host refuses: exit 3, one line naming the unit's pid" sh -c "
	[ $rc = 3 ] && [ \"\$(grep -c '^error:' '$WORK/second.out')\" = 1 ] &&
	grep -q '^error: another $NAME already runs on this host: pid $svc_host_pid, systemd unit $NAME.service' '$WORK/second.out'"
grep '^error:' "$WORK/second.out" | sed 's/^/info: /'
check "the service is unharmed (still active, same pid)" sh -c "
	[ \"\$(nsenter -t $CPID -a systemctl show -p MainPID --value $NAME)\" = '$mainpid' ] &&
	nsenter -t $CPID -a systemctl is-active -q $NAME"

# ---- restart behaviour ---------------------------------------------------------------
pid1=$(in_c systemctl show -p MainPID --value "$NAME")
in_c systemctl kill -s KILL "$NAME"
restarted() {
	for _ in $(seq 60); do
		p=$(in_c systemctl show -p MainPID --value "$NAME")
		[ "$p" != 0 ] && [ "$p" != "$pid1" ] && in_c systemctl is-active -q "$NAME" && return 0
		sleep 0.25
	done
	return 1
}
check "Restart=on-failure: killed daemon comes back" restarted
n=$(in_c journalctl -u "$NAME" -o cat --no-pager | grep -c ready)
echo 'METRIST_ORCHESTRATOR_ENDPOINT=not-an-endpoint' >"$R/etc/default/$NAME"
in_c systemctl restart "$NAME"
sleep 7 # longer than RestartSec
check "bad endpoint: exit status 2, failed, not restarted in a loop" sh -c "
	[ \"\$(nsenter -t $CPID -a systemctl show -p ExecMainStatus --value $NAME)\" = 2 ] &&
	! nsenter -t $CPID -a systemctl is-active -q $NAME &&
	[ \"\$(nsenter -t $CPID -a journalctl -u $NAME -o cat --no-pager | grep -c 'invalid METRIST_ORCHESTRATOR_ENDPOINT')\" = 1 ]"
echo 'METRIST_ORCHESTRATOR_ENDPOINT=127.0.0.1:51713' >"$R/etc/default/$NAME"
in_c systemctl restart "$NAME"
check "systemctl restart after fixing /etc/default: ready again" wait_ready "$n" 100

# ---- upgrade (same file again: postinst restarts), remove, purge ------------------------
n=$(in_c journalctl -u "$NAME" -o cat --no-pager | grep -c ready)
check "reinstall/upgrade restarts the service" sh -c "
	nsenter -t $CPID -a sh -c 'cd /var/tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall ./$DEB' &&
	for i in \$(seq 100); do
		[ \"\$(nsenter -t $CPID -a journalctl -u $NAME -o cat --no-pager | grep -c ready)\" -gt $n ] && exit 0; sleep 0.2
	done; exit 1"
check "apt-get remove stops the service" sh -c "
	nsenter -t $CPID -a env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q $NAME &&
	! nsenter -t $CPID -a systemctl is-active -q $NAME"
check_not "no daemon process left after remove" in_c pgrep -x "${NAME:0:15}"
check "apt-get purge removes /etc/default/$NAME" sh -c "
	nsenter -t $CPID -a env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q $NAME &&
	[ ! -e '$R/etc/default/$NAME' ] && [ ! -e '$R/etc/systemd/system/multi-user.target.wants/$NAME.service' ]"

# ---- the tarball as a service, with README "Other systems" commands ------------------------
TARBALL=$NAME-$VERSION-x86_64.tar.gz
if [ -f "$OUT/$TARBALL" ]; then
	cp "$OUT/$TARBALL" "$OUT/latest-x86_64.txt" "$R/var/tmp/"
	n=$(in_c journalctl -u "$NAME" -o cat --no-pager | grep -c ready)
	check "README: tarball installed as a systemd service" in_c bash -c '
		set -e
		cd /var/tmp
		latest=$(cat latest-x86_64.txt)
		tar xvfz "$latest.tar.gz"
		cd "$latest"
		install -m 0755 metrist-orchestrator-ebpf-plugin /usr/local/bin/
		install -m 0644 metrist-orchestrator-ebpf-plugin.default /etc/default/metrist-orchestrator-ebpf-plugin
		install -m 0644 metrist-orchestrator-ebpf-plugin.service /etc/systemd/system/
		systemctl daemon-reload
		systemctl enable --now metrist-orchestrator-ebpf-plugin'
	ready_active() { wait_ready "$1" 100 && in_c systemctl is-active -q "$NAME"; }
	check "tarball service: ready and active" ready_active "$n"
	check "tarball service: runs /usr/local/bin/$NAME" sh -c "
		nsenter -t $CPID -a systemctl show -p ExecStart $NAME | grep -q 'path=/usr/local/bin/$NAME'"
else
	fail "no $TARBALL in $OUT"
fi

summary
