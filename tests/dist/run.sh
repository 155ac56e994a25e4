#!/bin/bash
# Tests of the release files (make test-dist).
#
# Usage: tests/dist/run.sh BUILT_EXECUTABLE OUT_DIR
#
# Builds the release files into OUT_DIR with scripts/dist.sh, signed with a
# throw-away key, then checks: the static executable (file/ldd/readelf/nm);
# it runs --version, --help, the endpoint and kernel pre-flight, and really
# traces, inside a Debian bullseye root (glibc 2.31, like Ubuntu 20.04); the
# signatures verify against the shipped keyring and a tampered file does not;
# the tarball extracts with `tar xvfz` to a runnable executable; the .deb is
# lintian clean and installs, upgrades (conffile kept), removes and purges
# in a clean bullseye root. Needs root.
set -uo pipefail
EXE=$(readlink -f "$1")
OUT=$(readlink -m "$2")
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || { echo "tests/dist/run.sh needs root" >&2; exit 1; }

# ---- build the release files with a throw-away signing key --------------------
export GNUPGHOME=$WORK/gnupg
mkdir -m 0700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key \
	"metrist throw-away test key <test@example.invalid>" default sign 1d 2>/dev/null
FPR=$(gpg --batch --with-colons --list-secret-keys 2>/dev/null | awk -F: '$1 == "fpr" { print $10; exit }')
gpg --batch --armor --export-secret-keys "$FPR" >"$WORK/secret.asc" 2>/dev/null
gpgconf --kill all
unset GNUPGHOME
rm -rf "$OUT"
check "scripts/dist.sh builds and signs the release files" \
	env METRIST_SIGNING_KEY_FILE="$WORK/secret.asc" "$TOP/scripts/dist.sh" "$EXE" "$OUT"
rm -f "$WORK/secret.asc"

describe=$("$EXE" --version | awk '{ print $2 }')
VERSION=$("$TOP/scripts/dist-version.sh" "$describe")
TARBALL=$NAME-$VERSION-x86_64.tar.gz
DEB=${NAME}_${VERSION}_amd64.deb
IMAGE=$NAME-$VERSION-x86_64.oci.tar
echo "version: $describe -> $VERSION"

# ---- the static executable ------------------------------------------------------
# The release copy (stripped) is the one users get: check that one too.
mkdir -p "$WORK/deb-x"
dpkg-deb -x "$OUT/$DEB" "$WORK/deb-x" 2>/dev/null
for bin in "$EXE" "$WORK/deb-x/usr/bin/$NAME"; do
	tag=${bin#"$WORK"/}
	check "$tag: file says statically linked" \
		sh -c "file -b '$bin' | grep -Eq 'statically linked|static-pie linked'"
	check "$tag: ldd finds no shared libraries" \
		sh -c "ldd '$bin' 2>&1 | grep -Eq 'not a dynamic executable|statically linked'"
	check_not "$tag: no program interpreter (PT_INTERP)" \
		sh -c "readelf -lW '$bin' | grep -q 'Requesting program interpreter'"
	check_not "$tag: no DT_NEEDED entries" sh -c "readelf -dW '$bin' | grep -q NEEDED"
	# Rule for a glibc-linked variant: nothing newer than GLIBC_2.31.
	check_not "$tag: no symbol version newer than GLIBC_2.31" \
		sh -c "readelf -VW '$bin' | grep -Eo 'GLIBC_2\.[0-9]+' | sort -uV | awk -F. '\$2 > 31' | grep ."
done
check_not "no NSS or getservby* linked in (nm)" \
	sh -c "nm '$EXE' | grep -E ' (__nss_[a-z_]+|getservbyname|getservbyport_r|getaddrinfo|gethostbyname)\$'"
check "--version prints the name and git describe" \
	sh -c "'$EXE' --version | grep -qx '$NAME $describe'"
size=$(stat -c %s "$WORK/deb-x/usr/bin/$NAME")
echo "info: release executable size: $size bytes (stripped)"

# ---- inside a Debian bullseye root (glibc 2.31) ----------------------------------
cached_root
if [ -z "$BASE_ROOT" ]; then
	echo "#####################################################################"
	echo "SKIPPING the bullseye root tests: $ROOTFS_SKIP_REASON"
	echo "#####################################################################"
	skip "bullseye root tests ($ROOTFS_SKIP_REASON)"
	R=
else
	R=$(root_copy run) && root_mount "$R" || { fail "preparing a bullseye root copy"; R=; }
fi
if [ -n "$R" ]; then
	check "the root is glibc 2.31" sh -c "chroot '$R' ldd --version | head -1 | grep -q ' 2\.31\$'"
	install -m 0755 "$WORK/deb-x/usr/bin/$NAME" "$R/var/tmp/$NAME"
	check "bullseye: --version" sh -c "chroot '$R' /var/tmp/$NAME --version | grep -qx '$NAME $describe'"
	check "bullseye: --help exits 0 with usage" sh -c "chroot '$R' /var/tmp/$NAME --help | grep -q '^Usage:'"
	chroot "$R" env METRIST_ORCHESTRATOR_ENDPOINT=no-port-here /var/tmp/$NAME >"$WORK/bad.out" 2>&1
	rc=$?
	check "bullseye: invalid endpoint exits 2 naming the variable" \
		sh -c "[ $rc = 2 ] && grep -q METRIST_ORCHESTRATOR_ENDPOINT '$WORK/bad.out'"
	chroot "$R" setarch x86_64 --uname-2.6 env /var/tmp/$NAME >"$WORK/old.out" 2>&1
	rc=$?
	check "bullseye: kernel pre-flight refuses an old kernel (uname 2.6) with exit 1" \
		sh -c "[ $rc = 1 ] && grep -q 'too old' '$WORK/old.out'"

	# Really run it with a host name from /etc/hosts (c-ares, no NSS; a
	# minbase root has no /etc/hosts, real systems do): wait for `ready`,
	# measure RSS, SIGTERM -> exit 0.
	# Started from the extracted tarball as README "Other systems" says.
	echo '127.0.0.1 localhost orchestrator.test' >"$R/etc/hosts"
	cp "$OUT/$TARBALL" "$R/var/tmp/"
	chroot "$R" bash -c 'cd /var/tmp && TGZ=$1 && tar xvfz "$TGZ" >/dev/null && cd "${TGZ%.tar.gz}" &&
		exec env METRIST_ORCHESTRATOR_ENDPOINT=orchestrator.test:51713 ./metrist-orchestrator-ebpf-plugin' \
		- "$TARBALL" >"$WORK/run.out" 2>&1 &
	pid=$!
	for _ in $(seq 100); do
		grep -q 'ready' "$WORK/run.out" && break
		kill -0 $pid 2>/dev/null || break
		sleep 0.2
	done
	if grep -q 'ready' "$WORK/run.out"; then
		pass "bullseye: the tarball's daemon loads its BPF object, attaches and logs ready"
		sleep 1
		rss=$(awk '/^VmRSS/ { print $2 }' /proc/$pid/status)
		echo "info: RSS after ready: ${rss} kB"
		check "bullseye: RSS below 32 MB (${rss} kB)" test "$rss" -lt 32768
	else
		fail "bullseye: the daemon did not log ready"
		sed 's/^/    | /' "$WORK/run.out" | tail -20
	fi
	# The daemon may resolve lazily (on the first datagram): only require that
	# no resolution failed.
	check_not "bullseye: host name from /etc/hosts not reported unresolvable" \
		grep -q 'cannot resolve' "$WORK/run.out"
	kill -TERM $pid 2>/dev/null
	wait $pid
	rc=$?
	check "bullseye: SIGTERM -> exit 0 (was $rc)" test "$rc" = 0
fi

# ---- signatures, as the README tells users to verify them ---------------------------
export GNUPGHOME=$WORK/user-gnupg
mkdir -m 0700 "$GNUPGHOME"
check "the keyring is a binary OpenPGP keyring (apt signed-by format)" \
	sh -c "file -b '$OUT/metrist-archive-keyring.gpg' | grep -q 'OpenPGP Public Key'"
check "the keyring holds the signing key" \
	sh -c "cd '$OUT' && gpg --show-keys --with-colons ./metrist-archive-keyring.gpg | grep -q '$FPR'"
check_not "the keyring holds no secret key material" \
	sh -c "gpg --list-packets '$OUT/metrist-archive-keyring.gpg' | grep -qi 'secret'"
# Exactly the README's commands.
check "README: verify the .deb" bash -c 'cd "$1" && DEB=$(cat ubuntu-20.04.latest.txt) &&
	gpg --no-default-keyring --keyring ./metrist-archive-keyring.gpg --verify "$DEB.asc" "$DEB"' - "$OUT"
check "README: verify the tarball" bash -c 'cd "$1" && latest=$(cat latest-x86_64.txt) &&
	gpg --no-default-keyring --keyring ./metrist-archive-keyring.gpg --verify "$latest.tar.gz.asc" "$latest.tar.gz"' - "$OUT"
check "README: verify the image" bash -c 'cd "$1" && IMAGE=$(ls metrist-orchestrator-ebpf-plugin-*-x86_64.oci.tar) &&
	gpg --no-default-keyring --keyring ./metrist-archive-keyring.gpg --verify "$IMAGE.asc" "$IMAGE"' - "$OUT"
for f in "$TARBALL" "$DEB" "$IMAGE"; do
	check "$f.asc is ASCII-armoured" grep -q -- '-----BEGIN PGP SIGNATURE-----' "$OUT/$f.asc"
	cp "$OUT/$f" "$WORK/tampered"
	# Flip byte 1000 (writing a fixed byte left the file unchanged when it
	# already held that byte: 1 run in 256 "verified" a tampered file).
	b=$(od -An -tu1 -j1000 -N1 "$WORK/tampered" | tr -d ' ')
	printf "\\$(printf '%03o' $((255 - b)))" | dd of="$WORK/tampered" bs=1 seek=1000 conv=notrunc status=none
	check "the tampered copy of $f differs" sh -c "! cmp -s '$OUT/$f' '$WORK/tampered'"
	check_not "gpg --verify fails on a tampered $f" \
		gpg --no-default-keyring --keyring "$OUT/metrist-archive-keyring.gpg" --verify "$OUT/$f.asc" "$WORK/tampered"
done
cp "$OUT/$DEB" "$WORK/other.deb"
check_not "a signature made by another key does not verify" sh -c "
	gpg --batch --quiet --passphrase '' --quick-gen-key 'other <o@example.invalid>' default sign 1d 2>/dev/null &&
	gpg --batch --yes --armor --detach-sign -o '$WORK/other.deb.asc' '$WORK/other.deb' &&
	gpg --no-default-keyring --keyring '$OUT/metrist-archive-keyring.gpg' --verify '$WORK/other.deb.asc' '$WORK/other.deb'"
gpgconf --kill all
unset GNUPGHOME

# ---- index files ---------------------------------------------------------------------
# The seed's commands fetch $latest.tar.gz and $latest.tar.gz.asc (tests/dist/seed.sh runs them).
check "latest-x86_64.txt names the tarball without .tar.gz" \
	sh -c "[ \"\$(cat '$OUT/latest-x86_64.txt').tar.gz\" = '$TARBALL' ] && [ -f '$OUT/$TARBALL' ]"
check "ubuntu-20.04.latest.txt names the .deb" sh -c "[ \"\$(cat '$OUT/ubuntu-20.04.latest.txt')\" = '$DEB' ] && [ -f '$OUT/$DEB' ]"
check "the version is Debian-valid and starts with a digit" \
	sh -c "dpkg --validate-version '$VERSION' && case '$VERSION' in [0-9]*) true ;; *) false ;; esac"

# ---- tarball -----------------------------------------------------------------------------
mkdir -p "$WORK/tar"
check "tar xvfz extracts the tarball" sh -c "cd '$WORK/tar' && tar xvfz '$OUT/$TARBALL'"
tdir=$WORK/tar/$NAME-$VERSION-x86_64
for f in "$NAME" README.md LICENSE "$NAME.service" "$NAME.default"; do
	check "tarball has $NAME-$VERSION-x86_64/$f" test -f "$tdir/$f"
done
check "tarball executable is runnable (--version)" sh -c "'$tdir/$NAME' --version | grep -qx '$NAME $describe'"
check "tarball unit runs /usr/local/bin/$NAME" grep -qx "ExecStart=/usr/local/bin/$NAME" "$tdir/$NAME.service"
check "tarball default file sets the endpoint" grep -qx 'METRIST_ORCHESTRATOR_ENDPOINT=127.0.0.1:51713' "$tdir/$NAME.default"
check "tarball and .deb carry the same executable" cmp "$tdir/$NAME" "$WORK/deb-x/usr/bin/$NAME"

# ---- OCI image (make image; run with the DaemonSet's settings by tests/container/) ----------
label() { skopeo inspect "oci-archive:$OUT/$IMAGE" 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['Labels'].get(sys.argv[1], ''))" "$1"; }
check "image: skopeo reads the OCI archive" sh -c "skopeo inspect 'oci-archive:$OUT/$IMAGE' >/dev/null"
check "image: tagged $NAME:<version>" sh -c "tar xOf '$OUT/$IMAGE' index.json | grep -q '\"org.opencontainers.image.ref.name\":\"$NAME:$(printf %s "$VERSION" | tr '+~' '__')\"'"
check "image: label version = $VERSION" test "$(label org.opencontainers.image.version)" = "$VERSION"
check "image: label title = $NAME" test "$(label org.opencontainers.image.title)" = "$NAME"
check "image: label revision = $describe" test "$(label org.opencontainers.image.revision)" = "$describe"
check "image: label source is a URL" sh -c "case '$(label org.opencontainers.image.source)' in https://*) true ;; *) false ;; esac"
check "image: linux/amd64, entrypoint /usr/bin/$NAME, root, SIGTERM" sh -c "skopeo inspect --config 'oci-archive:$OUT/$IMAGE' | python3 -c '
import json, sys
c = json.load(sys.stdin)
assert c[\"os\"] == \"linux\" and c[\"architecture\"] == \"amd64\", c
cfg = c[\"config\"]
assert cfg[\"Entrypoint\"] == [\"/usr/bin/$NAME\"] and not cfg.get(\"Cmd\"), cfg
assert cfg[\"User\"] == \"0:0\" and cfg[\"StopSignal\"] == \"SIGTERM\", cfg
'"
# FROM scratch: one layer, holding the executable and its docs, nothing else.
mkdir -p "$WORK/image" "$WORK/image-root"
tar xf "$OUT/$IMAGE" -C "$WORK/image"
layers=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1]+'/index.json'))['manifests'][0]['digest'].split(':')[1]; print(' '.join(l['digest'].split(':')[1] for l in json.load(open(sys.argv[1]+'/blobs/sha256/'+m))['layers']))" "$WORK/image")
check "image: one layer" test "$(echo $layers | wc -w)" = 1
tar xzf "$WORK/image/blobs/sha256/$layers" -C "$WORK/image-root" 2>/dev/null
check "image: only the executable, its licence and README" sh -c "cd '$WORK/image-root' && [ \"\$(find . -type f | sort | tr '\n' ' ')\" = './usr/bin/$NAME ./usr/share/doc/$NAME/LICENSE ./usr/share/doc/$NAME/README.md ' ]"
check "image: the executable is the tarball's and the .deb's" cmp "$WORK/image-root/usr/bin/$NAME" "$WORK/deb-x/usr/bin/$NAME"
check "image: the executable is root:root 0755" sh -c "tar tvzf '$WORK/image/blobs/sha256/$layers' | grep -Eq '^-rwxr-xr-x 0/0 .* usr/bin/$NAME\$'"

# ---- systemd unit ----------------------------------------------------------------------
mkdir -p "$WORK/unit"
sed "s|^ExecStart=.*|ExecStart=$(readlink -f "$EXE")|" "$TOP/packaging/systemd/$NAME.service" >"$WORK/unit/$NAME.service"
check "systemd-analyze verify passes" systemd-analyze verify "$WORK/unit/$NAME.service"
check "the unit allows no core file (LimitCORE=0: the daemon holds other processes' plaintext)" \
	grep -qx 'LimitCORE=0' "$WORK/unit/$NAME.service"
score=$(systemd-analyze security --offline=yes "$WORK/unit/$NAME.service" 2>/dev/null | grep 'Overall exposure level')
echo "info: ${score#→ }"

# ---- .deb ----------------------------------------------------------------------------------
field() { dpkg-deb -f "$OUT/$DEB" "$1"; }
check "deb: Package/Version/Architecture" sh -c "[ '$(field Package)' = '$NAME' ] && [ '$(field Version)' = '$VERSION' ] && [ '$(field Architecture)' = amd64 ]"
check "deb: no dependencies (static)" sh -c "[ -z '$(field Depends)$(field Pre-Depends)' ]"
check "deb: conffiles lists /etc/default/$NAME" \
	sh -c "dpkg-deb --ctrl-tarfile '$OUT/$DEB' | tar -xOf - ./conffiles | grep -qx '/etc/default/$NAME'"
check "deb: xz-compressed members (readable by Ubuntu 20.04's dpkg)" \
	sh -c "ar t '$OUT/$DEB' | grep -qx data.tar.xz && ar t '$OUT/$DEB' | grep -qx control.tar.xz"
check "lintian is clean (errors, warnings, info, pedantic; overrides justified)" \
	lintian --fail-on error,warning,info,pedantic -I --pedantic "$OUT/$DEB"

if [ -n "$BASE_ROOT" ] && D=$(root_copy deb); then
	cp "$OUT/$DEB" "$D/var/tmp/"
	check "apt-get install ./$DEB in a clean bullseye root" \
		chroot "$D" sh -c "cd /var/tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -q ./$DEB"
	check "installed: /usr/bin/$NAME runs" sh -c "chroot '$D' /usr/bin/$NAME --version | grep -qx '$NAME $describe'"
	for f in /usr/bin/$NAME /lib/systemd/system/$NAME.service /etc/default/$NAME \
		/usr/share/doc/$NAME/copyright /usr/share/doc/$NAME/changelog.gz /usr/share/man/man8/$NAME.8.gz; do
		check "installed: $f" test -f "$D$f"
	done
	check "installed: conffile content" grep -qx 'METRIST_ORCHESTRATOR_ENDPOINT=127.0.0.1:51713' "$D/etc/default/$NAME"
	check "installed: dpkg records the conffile" \
		sh -c "chroot '$D' dpkg-query -W -f='\${Conffiles}' $NAME | grep -q '/etc/default/$NAME '"
	check "installed: service enabled (multi-user.target.wants)" \
		test -L "$D/etc/systemd/system/multi-user.target.wants/$NAME.service"
	check "installed: mode 0755 root:root" sh -c "[ \"\$(stat -c '%a %U %G' '$D/usr/bin/$NAME')\" = '755 root root' ]"

	# Upgrade to a newer version: an edited conffile is kept, without a prompt.
	echo 'METRIST_ORCHESTRATOR_ENDPOINT=10.0.0.5:51713' >"$D/etc/default/$NAME"
	dpkg-deb -R "$OUT/$DEB" "$WORK/up"
	sed -i "s/^Version: .*/Version: $VERSION+upgradetest/" "$WORK/up/DEBIAN/control"
	dpkg-deb --root-owner-group -b "$WORK/up" "$D/var/tmp/up.deb" >/dev/null
	check "upgrade to a newer version (dpkg -i, non-interactive)" \
		chroot "$D" sh -c "DEBIAN_FRONTEND=noninteractive dpkg -i /var/tmp/up.deb </dev/null"
	check "upgrade: version is the new one" \
		sh -c "[ \"\$(chroot '$D' dpkg-query -W -f='\${Version}' $NAME)\" = '$VERSION+upgradetest' ]"
	check "upgrade: the edited conffile is kept" grep -qx 'METRIST_ORCHESTRATOR_ENDPOINT=10.0.0.5:51713' "$D/etc/default/$NAME"

	check "remove (dpkg -r)" chroot "$D" dpkg -r $NAME
	check "removed: executable and unit gone" sh -c "[ ! -e '$D/usr/bin/$NAME' ] && [ ! -e '$D/lib/systemd/system/$NAME.service' ]"
	check "removed: conffile kept until purge" test -f "$D/etc/default/$NAME"
	check "purge (dpkg -P)" chroot "$D" dpkg -P $NAME
	check "purged: conffile gone" test ! -e "$D/etc/default/$NAME"
	check "purged: enablement symlink gone" test ! -e "$D/etc/systemd/system/multi-user.target.wants/$NAME.service"
	check "purged: dpkg forgot the package" sh -c "! chroot '$D' dpkg-query -W $NAME 2>/dev/null"
fi

summary
