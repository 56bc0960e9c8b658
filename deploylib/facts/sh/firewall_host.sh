# shellcheck shell=bash
# FirewallHost: the firewall tools each backend's detection finds (the function
# detect_firewalls, defined before this script from deploylib.firewall.registry), the
# service manager, the TCP listeners, and this SSH connection.
export LC_ALL=C PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
detect_firewalls
if systemd_runs; then echo "manager	systemd"; else echo "manager	sysvinit"; fi
ss -Hltnp 2>/dev/null | sed 's/^/listen\t/'
# $SSH_CONNECTION of this session: ours, or the nearest ancestor's (sudo drops
# it from the environment; root can read every ancestor's /proc/<pid>/environ).
conn=${SSH_CONNECTION:-}
pid=$$
while [ -z "$conn" ] && [ "${pid:-1}" -gt 1 ]; do
    conn=$(tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | sed -n 's/^SSH_CONNECTION=//p' | head -n1)
    pid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null)
done
[ -n "$conn" ] && printf 'ssh_connection\t%s\n' "$conn"
exit 0
