#!/bin/sh
# Install the Debian packages h5fs needs, when any is missing.
# A no-op (one dpkg-query) when everything is present.
set -e
pkgs="build-essential clang pkg-config libhdf5-openmpi-dev hdf5-tools libfuse3-dev fuse3
libopenmpi-dev openmpi-bin libcmocka-dev attr python3-h5py python3-numpy rsync zlib1g-dev"
missing=
for p in $pkgs; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing"
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q >/dev/null
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
echo "deps: done"
