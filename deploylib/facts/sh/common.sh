# shellcheck shell=sh
# Functions the deploy's host scripts share: prepended to every fact script
# (deploylib/model/shell.py: script()) and to the operations' scripts that need them.
# POSIX sh: a script run by sh or bash may use them.

# systemd runs services only when it is PID 1 (/run/systemd/system exists): having
# systemctl installed is not enough (containers and the sandbox have it without it).
systemd_runs() { [ -d /run/systemd/system ]; }

# "$@" as the postgres user, from / (whatever directory the session started in); the
# same as deploylib.model.pg_commands.as_postgres, which the operations use (setpriv:
# no PAM session, see there).
as_postgres() { env -C / setpriv --reuid=postgres --regid=postgres --init-groups --reset-env -- "$@"; }

# Whether the host's apt sources have package $1 (as far as its apt lists tell).
apt_has_package() { apt-cache show --no-all-versions -- "$1" 2>/dev/null | grep -q '^Package:'; }
