#!/usr/bin/env bash
# Runs as PID 1 of a fresh PID namespace, in its own mount/UTS/IPC namespaces,
# already inside the host's network namespace:
#   boot.sh LOWER_DIR HOST_DIR HOSTNAME
# Mounts the overlay root, a minimal /dev, /proc, /sys and /run, pivots into it
# and execs tini, which runs /sbin/sandbox-init.
set -euo pipefail
lower=$1 hostdir=$2 name=$3
root=$hostdir/root

mkdir -p "$hostdir/upper" "$hostdir/work" "$root"
mount -t overlay overlay \
    -o "lowerdir=$lower,upperdir=$hostdir/upper,workdir=$hostdir/work" "$root"

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
if [ -d /sys/fs/cgroup ] && mountpoint -q /sys/fs/cgroup; then
    # A container engine inside the host needs the cgroup tree.
    mount --rbind /sys/fs/cgroup "$root/sys/fs/cgroup" || true
fi
mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/run"
mount -t tmpfs -o mode=1777,nosuid tmpfs "$root/tmp"

mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
for dev in null zero full random urandom tty; do
    touch "$root/dev/$dev"
    mount --bind "/dev/$dev" "$root/dev/$dev"
done
mkdir -p "$root/dev/pts" "$root/dev/shm" "$root/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$root/dev/pts"
ln -sf pts/ptmx "$root/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
ln -sf /proc/self/fd "$root/dev/fd"
ln -sf /proc/self/fd/0 "$root/dev/stdin"
ln -sf /proc/self/fd/1 "$root/dev/stdout"
ln -sf /proc/self/fd/2 "$root/dev/stderr"

hostname "$name"

cd "$root"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot 2>/dev/null || true

exec /usr/bin/tini -s -- /sbin/sandbox-init
