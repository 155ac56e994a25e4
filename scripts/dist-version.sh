#!/bin/sh
# Turn a `git describe --tags --always --dirty` string into a Debian-valid
# version (it must start with a digit; '-' is reserved for the Debian
# revision). The same string names the .deb and the tarball.
#
#   v1.2.0                 -> 1.2.0
#   v1.2.0-5-g1a2b3c4      -> 1.2.0+5.g1a2b3c4
#   v1.2.0-5-g1a2b3c4-dirty-> 1.2.0+5.g1a2b3c4.dirty
#   1a2b3c4 (no tag)       -> 0.0.0+g1a2b3c4
#   1a2b3c4-dirty          -> 0.0.0+g1a2b3c4.dirty
#
# Usage: scripts/dist-version.sh [DESCRIBE]   (default: ask git)
set -eu
d=${1:-$(git describe --tags --always --dirty 2>/dev/null || echo 0.0.0)}
dirty=
case $d in *-dirty) dirty=.dirty; d=${d%-dirty} ;; esac
if printf '%s' "$d" | grep -Eq '^[0-9a-f]{7,40}$'; then
	d=0.0.0+g$d # no tag: an abbreviated commit id
fi
d=${d#v}
case $d in
[0-9]*)
	# tag, maybe followed by -<commits>-g<sha>
	if printf '%s' "$d" | grep -Eq -- '-[0-9]+-g[0-9a-f]+$'; then
		tag=$(printf '%s' "$d" | sed -E 's/-[0-9]+-g[0-9a-f]+$//')
		rest=$(printf '%s' "$d" | sed -E 's/^.*-([0-9]+)-(g[0-9a-f]+)$/\1.\2/')
		v=$tag+$rest
	else
		v=$d
	fi
	;;
*) v=0.0.0+$d ;; # a tag not starting with a digit
esac
# Anything else Debian does not allow in an upstream version becomes '.'.
v=$(printf '%s%s' "$v" "$dirty" | sed -E 's/[^A-Za-z0-9.+~]/./g')
case $v in [0-9]*) ;; *) v=0.0.0+$v ;; esac
printf '%s\n' "$v"
