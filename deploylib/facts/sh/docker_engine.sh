# shellcheck shell=bash
# DockerEngine: the docker CLI and daemon, compose (plugin and standalone) with their
# versions, the engine's version when the daemon answers, and the apt candidate version
# of each package of "$@".
export LC_ALL=C
command -v docker >/dev/null 2>&1 && echo "docker	$(command -v docker)"
command -v dockerd >/dev/null 2>&1 && echo "dockerd	$(command -v dockerd)"
v=$(docker compose version --short 2>/dev/null) && echo "compose_plugin	$v"
v=$(docker-compose version --short 2>/dev/null) && echo "compose_binary	$v"
v=$(timeout 10 docker info --format '{{.ServerVersion}}' 2>/dev/null) && [ -n "$v" ] && echo "server	$v"
if command -v apt-cache >/dev/null 2>&1; then
    for package in "$@"; do
        candidate=$(apt-cache policy "$package" 2>/dev/null | awk '/Candidate:/ {print $2}')
        [ -n "$candidate" ] && [ "$candidate" != "(none)" ] && echo "candidate	$package	$candidate"
    done
fi
exit 0
