# shellcheck shell=sh
# PathsState: "$@" are the paths. Shell builtins per path, then one stat and one
# sha256sum for all of them: process starts are what this costs on a host, every run.
# The path is printed last: whatever it holds stays in it.
for p in "$@"; do
    shift  # "$@" becomes the paths that exist
    if [ -d "$p" ]; then k=directory; elif [ -f "$p" ]; then k='file'
    elif [ -e "$p" ]; then k=other; else continue; fi
    printf 'kind\t%s\t%s\n' "$k" "$p"
    set -- "$@" "$p"
done
[ $# -gt 0 ] && stat --printf 'meta\t%U %G %a\t%n\n' -- "$@"
for p in "$@"; do shift; [ -f "$p" ] && set -- "$@" "$p"; done
[ $# -gt 0 ] && sha256sum -- "$@"
true
