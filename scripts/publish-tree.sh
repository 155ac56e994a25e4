#!/bin/bash
# Lay out release files (make dist's dist/) as the download site serves them,
# so that the install commands users have (the seed's documentation) work
# verbatim against it:
#   <tree>/latest-x86_64.txt, <tarball>, <tarball>.asc,
#          <image>.oci.tar(.asc), metrist-archive-keyring.gpg
#   <tree>/ubuntu/20.04.x86_64.latest.txt (dist's ubuntu-20.04.latest.txt),
#          <deb>, <deb>.asc
# i.e. http://dist.metrist.io/orchestrator-plugins/ebpf/ is <tree>.
#
# Usage: scripts/publish-tree.sh DIST_DIR TREE_DIR
set -euo pipefail
dist=$1
tree=$2
latest=$(cat "$dist/latest-x86_64.txt")
deb=$(cat "$dist/ubuntu-20.04.latest.txt")
mkdir -p "$tree/ubuntu"
cp "$dist/latest-x86_64.txt" "$dist/$latest.tar.gz" "$tree/"
cp "$dist/$deb" "$tree/ubuntu/"
cp "$dist/ubuntu-20.04.latest.txt" "$tree/ubuntu/20.04.x86_64.latest.txt"
shopt -s nullglob
for f in "$dist/$latest.tar.gz.asc" "$dist"/*.oci.tar "$dist"/*.oci.tar.asc "$dist/metrist-archive-keyring.gpg"; do
	cp "$f" "$tree/"
done
[ -f "$dist/$deb.asc" ] && cp "$dist/$deb.asc" "$tree/ubuntu/"
echo "published $dist as $tree"
