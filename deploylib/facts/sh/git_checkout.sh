# shellcheck shell=bash
# GitCheckout: $1 the checkout's directory, $2 the repository URL ("": no ls-remote),
# $3 the deploy key's path on the host, $4 the checkout's owner (app_user), $5
# GIT_SSH_COMMAND with that key. Runs as root; every git command in the checkout runs as
# its owner: the tree is theirs (and containers may write to it), so its .git/config
# (core.fsmonitor, hooks, core.sshCommand...) must never run anything as root. Without
# that user (first run) git does not run in the tree at all; ls-remote runs from / then.
dir=$1 url=$2 key=$3 user=$4 ssh_command=$5
if id -u "$user" >/dev/null 2>&1 && [ "$user" != root ]; then
    as_owner() { HOME=$(getent passwd "$user" | cut -d: -f6) runuser -u "$user" -- "$@"; }
else
    as_owner() { return 1; }
fi
git_() { as_owner git -c core.fsmonitor=false -c core.hooksPath=/dev/null -C "$dir" "$@"; }
if [ -d "$dir/.git" ]; then
    echo "exists	git"
    head=$(git_ rev-parse -q --verify 'HEAD^{commit}' 2>/dev/null) && echo "head	$head"
    origin=$(git_ remote get-url origin 2>/dev/null) && echo "origin	$origin"
    echo "tracked_changes	$(git_ status --porcelain --untracked-files=no 2>/dev/null | wc -l)"
elif [ -d "$dir" ]; then
    echo "exists	dir"
fi
[ -n "$url" ] || exit 0
if [ -n "$key" ] && [ -f "$key" ]; then
    export GIT_SSH_COMMAND="$ssh_command"
fi
export GIT_TERMINAL_PROMPT=0
cd /
if id -u "$user" >/dev/null 2>&1 && [ "$user" != root ]; then
    out=$(as_owner timeout 60 git ls-remote -- "$url" 2>&1)
else
    out=$(timeout 60 git ls-remote -- "$url" 2>&1)
fi && printf '%s\n' "$out" | sed 's/^/ls	/' \
    || printf 'ls_failed	%s\n' "$(printf '%s' "$out" | tail -n1)"
exit 0
