#!/bin/bash
# Build the OCI image from a built static executable (make image, make dist):
#   <out>/metrist-orchestrator-ebpf-plugin-<version>-x86_64.oci.tar
# an OCI archive (load it with `skopeo copy oci-archive:<file> ...` or
# `podman load -i <file>`), tagged metrist-orchestrator-ebpf-plugin:<version>.
#
# Usage: scripts/image.sh BUILT_EXECUTABLE OUT_DIR
#
# FROM scratch, built with Debian's buildah: nothing comes from a registry.
# The image holds the stripped release executable (the one in the tarball
# and the .deb, at the .deb's path), its licence and README, and nothing
# else: no shell, no libraries, no CA certificates (the daemon links
# statically and speaks no TLS). Runs as root in the container, with the
# capabilities the DaemonSet grants (deploy/kubernetes/, README
# "Kubernetes"). Timestamps are the commit's (SOURCE_DATE_EPOCH), so a
# rebuild of the same commit gives the same layer.
#
# Labels (OCI annotation keys): title, description, version, revision,
# created, source ($METRIST_IMAGE_SOURCE, default the home page), url,
# licenses, vendor.
set -euo pipefail
name=metrist-orchestrator-ebpf-plugin
bin=$1
out=$2
top=$(cd "$(dirname "$0")/.." && pwd)

command -v buildah >/dev/null || { echo "error: buildah is needed (apt-get install buildah)" >&2; exit 1; }
describe=$("$bin" --version | awk -v n="$name" '$1 == n { print $2 }')
[ -n "$describe" ] || { echo "error: $bin --version printed no version" >&2; exit 1; }
version=$("$top/scripts/dist-version.sh" "$describe")
# A tag allows [A-Za-z0-9_.-]: Debian's '+' and '~' become '_'.
tag=$(printf '%s' "$version" | tr '+~' '__')
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
source_url=${METRIST_IMAGE_SOURCE:-https://metrist.io}
archive=$out/$name-$version-x86_64.oci.tar

mkdir -p "$out"
stage=$(mktemp -d)
ctr=
trap '[ -n "$ctr" ] && buildah rm "$ctr" >/dev/null 2>&1; rm -rf "$stage"' EXIT

install -m 0755 "$bin" "$stage/$name"
strip --strip-all --remove-section=.comment "$stage/$name"
install -m 0644 "$top/LICENSE" "$top/README.md" "$stage/"
touch -d "@$SOURCE_DATE_EPOCH" "$stage"/*

ctr=$(buildah from --quiet scratch)
buildah copy --quiet --chown 0:0 --chmod 0755 "$ctr" "$stage/$name" "/usr/bin/$name" >/dev/null
buildah copy --quiet --chown 0:0 --chmod 0644 "$ctr" "$stage/LICENSE" "$stage/README.md" \
	"/usr/share/doc/$name/" >/dev/null
labels=(
	"org.opencontainers.image.title=$name"
	"org.opencontainers.image.description=Reports every outgoing HTTPS call on the node (method, host, path, latency) to a Metrist Orchestrator over UDP, by tracing TLS libraries with eBPF uprobes"
	"org.opencontainers.image.version=$version"
	"org.opencontainers.image.revision=$describe"
	"org.opencontainers.image.created=$created"
	"org.opencontainers.image.source=$source_url"
	"org.opencontainers.image.url=https://metrist.io"
	"org.opencontainers.image.licenses=(LGPL-2.1 OR BSD-2-Clause)"
	"org.opencontainers.image.vendor=Metrist"
)
config=(--os linux --arch amd64 --user 0:0 --workingdir / --stop-signal SIGTERM
	--entrypoint "[\"/usr/bin/$name\"]" --cmd '[]'
	--env METRIST_ORCHESTRATOR_ENDPOINT=127.0.0.1:51713)
for l in "${labels[@]}"; do config+=(--label "$l" --annotation "$l"); done
buildah config "${config[@]}" "$ctr"
rm -f "$archive.tmp"
buildah commit --quiet --format oci --timestamp "$SOURCE_DATE_EPOCH" --identity-label=false \
	--omit-history --disable-compression=false "$ctr" "oci-archive:$archive.tmp:$name:$tag" >/dev/null
mv "$archive.tmp" "$archive"
echo "built $archive ($name:$tag)"
