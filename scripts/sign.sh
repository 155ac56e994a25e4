#!/bin/bash
# Sign release files with GnuPG and write the keyring users verify them with.
#
# Usage: scripts/sign.sh OUT_DIR FILE...
#   writes FILE.asc (detached, ASCII-armoured) for each FILE and
#   OUT_DIR/metrist-archive-keyring.gpg (binary keyring, as apt's signed-by
#   expects): the signing key's public key plus every packaging/keys/*.asc.
#
# The key comes from the environment, never from the repository:
#   METRIST_SIGNING_KEY_FILE  an exported secret key (armoured or binary),
#                             imported into a temporary GNUPGHOME that is
#                             deleted afterwards; or
#   METRIST_SIGNING_KEY_ID    a key in the caller's GNUPGHOME (or ~/.gnupg);
#   METRIST_SIGNING_PASSPHRASE_FILE  optional, when the key has a passphrase.
# With both KEY_FILE and KEY_ID, KEY_ID picks one key out of the file.
# See packaging/keys/README.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=$1
shift
keyring=$out/metrist-archive-keyring.gpg

tmp=$(mktemp -d)
chmod 0700 "$tmp"
trap 'gpgconf --homedir "$tmp/home" --kill all >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
mkdir -m 0700 "$tmp/home" "$tmp/ring"

if [ -n "${METRIST_SIGNING_KEY_FILE:-}" ]; then
	export GNUPGHOME=$tmp/home
	gpg --batch --quiet --import "$METRIST_SIGNING_KEY_FILE"
elif [ -z "${METRIST_SIGNING_KEY_ID:-}" ]; then
	echo "error: set METRIST_SIGNING_KEY_FILE or METRIST_SIGNING_KEY_ID (see packaging/keys/README)" >&2
	exit 1
fi
key=${METRIST_SIGNING_KEY_ID:-}
if [ -z "$key" ]; then
	key=$(gpg --batch --with-colons --list-secret-keys | awk -F: '$1 == "fpr" { print $10; exit }')
fi
[ -n "$key" ] || { echo "error: no secret key found" >&2; exit 1; }

sign_opts=(--batch --yes --armor --detach-sign --local-user "$key")
if [ -n "${METRIST_SIGNING_PASSPHRASE_FILE:-}" ]; then
	sign_opts+=(--pinentry-mode loopback --passphrase-file "$METRIST_SIGNING_PASSPHRASE_FILE")
fi
for f in "$@"; do
	gpg "${sign_opts[@]}" --output "$f.asc" "$f"
	echo "signed $f.asc"
done

# The keyring: the signing key and any other trusted public keys kept in the
# repository (e.g. the next key during a rotation), minimal, binary.
gpg --batch --export --export-options export-minimal "$key" >"$tmp/signing.gpg"
[ -s "$tmp/signing.gpg" ] || { echo "error: could not export the public key of $key" >&2; exit 1; }
shopt -s nullglob
trusted=("$top"/packaging/keys/*.asc)
GNUPGHOME=$tmp/ring gpg --batch --quiet --import "$tmp/signing.gpg" "${trusted[@]}"
GNUPGHOME=$tmp/ring gpg --batch --export --export-options export-minimal >"$keyring.tmp"
mv "$keyring.tmp" "$keyring"
gpgconf --homedir "$tmp/ring" --kill all >/dev/null 2>&1 || true
echo "wrote $keyring"

# Check what users will run.
for f in "$@"; do
	gpg --batch --quiet --no-default-keyring --keyring "$keyring" --verify "$f.asc" "$f" 2>/dev/null ||
		{ echo "error: $f.asc does not verify against $keyring" >&2; exit 1; }
done
