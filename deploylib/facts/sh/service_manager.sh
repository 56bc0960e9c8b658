# shellcheck shell=sh
# The init system that controls services (ServiceManager).
if systemd_runs; then echo systemd
elif command -v openrc >/dev/null 2>&1; then echo openrc
else echo sysvinit; fi
