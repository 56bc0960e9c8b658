#!/usr/bin/env bash
# Build a Debian root filesystem for sandbox hosts.
#   build-rootfs.sh SUITE MIRROR OUT_DIR PACKAGE...
# Runs debootstrap, then installs PACKAGES inside a private mount namespace with
# services prevented from starting (policy-rc.d), so nothing keeps running after
# the build. The caller turns OUT_DIR into the cached tarball.
set -euo pipefail
suite=$1 mirror=$2 out=$3
shift 3
packages=("$@")

rm -rf "$out"
debootstrap --variant=minbase --include=ca-certificates "$suite" "$out" "$mirror"

cat > "$out/etc/apt/sources.list" <<SOURCES
deb $mirror $suite main
deb $mirror $suite-updates main
deb ${mirror%/debian}/debian-security $suite-security main
SOURCES

# No service may start inside the build chroot.
printf '#!/bin/sh\nexit 101\n' > "$out/usr/sbin/policy-rc.d"
chmod 0755 "$out/usr/sbin/policy-rc.d"

install -m 0755 "$(dirname "$0")/init.sh" "$out/sbin/sandbox-init"

unshare --mount --propagation private bash -euo pipefail -c '
  out=$1; shift
  mount -t proc proc "$out/proc"
  mount --rbind /dev "$out/dev"
  mount -t sysfs sysfs "$out/sys"
  export DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 LC_ALL=C.UTF-8
  chroot "$out" apt-get update -q
  chroot "$out" apt-get install -y -q --no-install-recommends "$@"
  chroot "$out" apt-get clean
' build "$out" "${packages[@]}"

rm -f "$out/usr/sbin/policy-rc.d"
rm -rf "$out/var/lib/apt/lists/"* "$out/etc/ssh/ssh_host_"*
# Host identity is written per host at `up`.
: > "$out/etc/hostname"
