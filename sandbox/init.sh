#!/bin/sh
# PID 1's child inside a sandbox host (tini is PID 1): start the services a
# Debian server would have, then wait. SIGTERM stops PostgreSQL cleanly.
export LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

stop_all() {
    for pidfile in /run/docker.pid; do
        [ -f "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
    done
    pg_lsclusters -h 2>/dev/null | while read -r version cluster _; do
        pg_ctlcluster "$version" "$cluster" stop -m fast 2>/dev/null
    done
    exit 0
}
trap stop_all TERM INT

ip link set lo up 2>/dev/null
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -A >/dev/null
mkdir -p /run/sshd /var/run/postgresql
chown postgres:postgres /var/run/postgresql 2>/dev/null
/usr/sbin/sshd
service cron start >/dev/null 2>&1 || cron
pg_lsclusters -h 2>/dev/null | while read -r version cluster _; do
    pg_ctlcluster "$version" "$cluster" start
done
echo "sandbox-init: ready" > /run/sandbox-ready

sleep infinity &
wait $!
