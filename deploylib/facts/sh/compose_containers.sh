# shellcheck shell=bash
# ComposeContainers: per container of compose project $1, its service, the image ID it
# runs, and the ID its image reference names now (empty when the image is gone): a
# re-tag or a pull shows as a new ID. docker CLI calls: one `ps`, one `inspect`, one
# `image inspect` per container.
ids=$(docker ps -aq --filter "label=com.docker.compose.project=$1" 2>/dev/null) || exit 0
[ -n "$ids" ] || exit 0
# shellcheck disable=SC2086  # $ids: one word per container ID
docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}	{{.Config.Image}}	{{.Image}}' \
    $ids 2>/dev/null | while IFS='	' read -r service reference started; do
    current=$(docker image inspect -f '{{.Id}}' -- "$reference" 2>/dev/null)
    printf 'container\t%s\t%s\t%s\n' "$service" "$started" "$current"
done
exit 0
