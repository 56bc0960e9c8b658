"""Operations for the application: its git checkout or pushed tree, secret files, and
`docker compose up` recorded so that a re-run with the same inputs does nothing (host code:
pyinfra operations; may import facts, the model, announce and pyinfra_compat)."""

from __future__ import annotations

import hashlib
import json
import shlex

from pyinfra import host, logger
from pyinfra.api import (
    FunctionCommand,
    OperationError,
    RsyncCommand,
    StringCommand,
    operation,
)
from pyinfra.facts.files import File, Sha256File

from .. import announce, managed_paths, pyinfra_compat, show_diff
from ..facts import cached_fact
from ..facts.app import Checkout, ComposeContainers, GitCheckout, TextFile
from ..model import compose
from ..model.config import Secret
from ..model.shell import as_user, git_ssh_command


def _bash(script: str) -> StringCommand:
    return StringCommand("bash", "-c", shlex.quote(script))


def checkout_script(path: str, url: str, ref: str, key_path: str | None) -> str:
    """Fetch `url` into `path` (an existing directory; a repository is initialised in place, so
    files already there, such as .env, stay) and check out the commit `ref` names, detached.
    Untracked files are never removed; modified tracked files make git refuse."""
    q = shlex.quote
    lines = ["set -euo pipefail", "export GIT_TERMINAL_PROMPT=0"]
    if key_path:
        lines.append(f"export GIT_SSH_COMMAND={q(git_ssh_command(key_path))}")
    lines += [
        f"cd {q(path)}",
        "[ -f .git/HEAD ] || git init -q .",
        f"git remote get-url origin >/dev/null 2>&1 || git remote add origin {q(url)}",
        f"git remote set-url origin {q(url)}",
        "git fetch -q --force --tags origin '+refs/heads/*:refs/remotes/origin/*'",
        f"ref={q(ref)}",
        'commit=$(git rev-parse -q --verify "refs/remotes/origin/$ref^{commit}" '
        '|| git rev-parse -q --verify "refs/tags/$ref^{commit}" '
        '|| git rev-parse -q --verify --end-of-options "$ref^{commit}") '
        '|| { echo "app_ref $ref: no such branch, tag or commit in the repository" >&2; exit 1; }',
        'git checkout -q --detach "$commit"',
        'echo "checked out $(git rev-parse HEAD) ($ref)"',
    ]
    return "\n".join(lines)


@operation()
def git_checkout(
    path: str,
    url: str,
    ref: str,
    user: str,
    key_path: str | None = None,
):
    """
    Check out ``ref`` (branch, tag or commit) of ``url`` in ``path`` as ``user``:
    fetch and check out only when the commit ``ref`` names (from the fact's
    ``git ls-remote``) differs from the one checked out, or ``origin`` changed.
    Never re-clones, never removes untracked files.

    + key_path: a private key on the host for ``GIT_SSH_COMMAND``
    """
    checkout = git_checkout_fact(path, url, user, key_path)
    if checkout.tracked_changes:
        raise OperationError(
            f"{path}: {checkout.tracked_changes} tracked file(s) modified on the host; "
            "the deploy does not overwrite local changes (commit or discard them)"
        )
    wanted = compose.resolve_ref(ref, checkout.remote_refs)
    if wanted is None and not checkout.ls_remote_error:
        raise OperationError(f"app_ref {ref!r}: no such branch or tag in {url}")
    if wanted and checkout.head == wanted and checkout.origin == url:
        host.noop(f"{path} is at {ref} ({wanted[:12]})")
        return
    yield _bash(as_user(user, checkout_script(path, url, ref, key_path)))


def git_checkout_fact(path: str, url: str, user: str, key_path: str | None = None) -> Checkout:
    """The GitCheckout fact of ``path``, asked once per host (the task asks the same)."""
    return cached_fact(host, GitCheckout, path=path, url=url, key_path=key_path, user=user)


def wanted_commit(ref: str, checkout: Checkout) -> str | None:
    """The commit the checkout will be at after ``git_checkout`` (None: unknown at plan time)."""
    return compose.resolve_ref(ref, checkout.remote_refs)


@operation()
def local_tree(src: str, dest: str, excludes: list, user: str, marker: str):
    """
    Push the local directory ``src`` to ``dest`` with rsync (dev): only when the
    tree's hash differs from the one recorded in ``marker`` after the last push.
    Excluded paths are neither sent nor deleted.
    """
    wanted = compose.tree_hash(src, excludes)
    current_marker = cached_fact(host, TextFile, path=marker)
    if (current_marker or "").strip() == wanted:
        host.noop(f"{dest} already has {src} ({wanted[:17]})")
        return
    yield RsyncCommand(src.rstrip("/") + "/", dest.rstrip("/") + "/", compose.rsync_flags(excludes))
    q = shlex.quote
    yield _bash(
        f"chown -R {q(user)}: {q(dest)} && printf '%s\\n' {q(wanted)} > {q(marker)}.new "
        f"&& mv -f {q(marker)}.new {q(marker)}"
    )


# Where secret files are uploaded before they are put in place. pyinfra uploads over SFTP as
# the SSH user; with sudo (host data, --sudo on the command line, ...) it first writes a
# temporary file (default: /tmp/pyinfra-<sha1>, mode from the SFTP server's umask) and
# copies it as root. Both files land here instead: a directory only root can create
# (its parent /run is root's, 0755), owned by the SSH user, 0700, so nobody else can
# read, list or replace anything in it, at any moment, however sudo was enabled.
UPLOAD_DIR = "/run/hatchet-owlclaw-deploy-upload"


def upload_dir_script() -> str:
    """As root: UPLOAD_DIR, 0700, owned by the SSH user (the one sudo/doas was run by)."""
    q = shlex.quote(UPLOAD_DIR)
    return (
        'owner=${SUDO_USER:-${DOAS_USER:-$(id -un)}}; '
        f"if [ -L {q} ] || {{ [ -e {q} ] && [ ! -d {q} ]; }}; then rm -f -- {q}; fi; "
        f'install -d -m 0700 -o "$owner" {q} && chown -h "$owner" {q} && chmod 0700 {q}'
    )


def install_secret_script(uploaded: str, path: str, user: str, group: str, mode: str) -> str:
    """As root: put the uploaded file at ``path``, written by ``user`` (its owner): the
    directory is theirs, so nothing in it is ever followed or changed as root (a symlink
    planted at ``path`` is replaced, not followed). The file is created private (umask
    077) before any byte is written, then renamed into place; the upload is removed."""
    q = shlex.quote
    staged = f"{path}.deploy-new"
    write = (
        f"umask 077 && rm -f -- {q(staged)} && cat > {q(staged)} && chmod {mode} {q(staged)} "
        + (f"&& chgrp {q(group)} {q(staged)} " if group != user else "")
        + f"&& mv -f -- {q(staged)} {q(path)}"
    )
    return f"{as_user(user, write)} < {q(uploaded)}; status=$?; rm -f -- {q(uploaded)}; exit $status"


def _read_secret_text(path: str) -> str | None:
    """The file's current text, read into the controller's memory (with the operation's
    sudo arguments), never printed at any verbosity; None when it cannot be read."""
    ok, output = host.run_shell_command(
        StringCommand("cat", "--", shlex.quote(path)), print_output=False, print_input=False,
        **pyinfra_compat.current_connector_arguments(host),
    )
    return output.stdout + "\n" if ok else None


@operation()
def secret_file(path: str, content: Secret, user: str, group: str, mode: str = "600", diff_kind: str = "secret"):
    """
    Keep ``path`` equal to the secret ``content``, mode ``mode``, owned by
    ``user``:``group``. Compared by sha256 on the host; no diff of its lines is
    ever shown (with ``--diff``: ``diff_kind`` "env" names the keys added, removed
    or changed, "secret" only says the content changes); the content never appears
    in a command line or in pyinfra's output.
    Private at every moment: uploaded into UPLOAD_DIR, written by ``user``
    with umask 077, renamed into place (install_secret_script).
    """
    text = content.reveal()
    wanted_sha = hashlib.sha256(text.encode()).hexdigest()
    current_sha = host.get_fact(Sha256File, path=path)
    if current_sha != wanted_sha:  # --diff, the prod guard: read only then
        show_diff.show(host, path, (lambda: _read_secret_text(path)) if current_sha else None, text, diff_kind)
    info = host.get_fact(File, path=path)
    if (current_sha == wanted_sha and info
            and (info.get("user"), info.get("group")) == (user, group)
            and f"{info.get('mode')}" == mode.lstrip("0")):
        host.noop(f"{path} is up to date")
        return
    uploaded = f"{UPLOAD_DIR}/{hashlib.sha256(path.encode()).hexdigest()[:16]}"
    yield _bash(upload_dir_script())
    yield pyinfra_compat.private_upload(text, uploaded)
    yield _bash(install_secret_script(uploaded, path, user, group, mode))


@operation()
def compose_v2():
    """Fail, saying what to do, unless compose v2 is installed (checked on the host after the
    packages are; a no-op when the ``DockerEngine`` fact already showed it)."""
    if compose.compose_confirmed(managed_paths.docker_engine(host, host.data.settings)):
        host.noop("compose v2 is installed")
        return
    yield _bash(compose.compose_check_script())


def wait_script(compose_argv: list[str], project: str, timeout: int) -> str:
    """Wait until every container of `project` is running (healthy when it has a health
    check; one-shot containers may have exited 0), on two checks in a row 2 s apart (a
    container that dies right after starting is caught). On timeout: `compose ps` and the
    failing services' last log lines, exit 1."""
    q = shlex.quote
    cmd = compose.shell(compose_argv)
    label = shlex.quote(f"label=com.docker.compose.project={project}")
    fmt = shlex.quote('{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}')
    return f"""
project={q(project)}
deadline=$(( $(date +%s) + {int(timeout)} ))
good=0
while :; do
    states=$(docker ps -a --filter {label} --format {fmt})
    bad=$(printf '%s\\n' "$states" | awk -F'\\t' '
        NF && !($2 == "running" && $3 !~ /health: starting|unhealthy/) &&
              !($2 == "exited" && $3 ~ /^Exited \\(0\\)/) {{print $1}}' | sort -u)
    if [ -n "$states" ] && [ -z "$bad" ]; then
        good=$((good + 1))
        if [ "$good" -ge 2 ]; then
            echo "every service of $project is up:"; printf '%s\\n' "$states"; exit 0
        fi
    else
        good=0
    fi
    [ "$(date +%s)" -ge "$deadline" ] && break
    sleep 2
done
echo "compose project $project: not running/healthy after {int(timeout)}s: ${{bad:-no containers}}" >&2
{cmd} ps -a >&2
for service in $bad; do
    echo "--- last log lines of $service ---" >&2
    {cmd} logs --no-color --tail 40 "$service" >&2
done
exit 1
"""


def check_effective_config(state, host, app_dir: str, base_argv: list[str], expected: compose.Expected):
    """Run on the controller while the operation executes: `docker compose ... config` on the
    host (its output holds the secrets: read here, never printed), then
    compose.check_effective_config. False (the run stops before `up`) on any problem."""
    arguments = pyinfra_compat.current_connector_arguments(host)
    command = f"cd {shlex.quote(app_dir)} && {compose.shell([*base_argv, *compose.config_args()])}"
    ok, output = host.run_shell_command(
        StringCommand(command), print_output=False, print_input=False, **arguments
    )
    secrets = expected.secret_texts()
    if not ok:
        errors = [line for line in output.stderr_lines if "level=warning" not in line]
        problems = ["`docker compose config` refused the project: "
                    + compose.redact("\n".join(errors), secrets).strip()
                    + " (compose_services lists only services of compose_files, and every"
                    " service that depends on a disabled one)"]
    else:
        try:
            problems = compose.check_effective_config(json.loads(output.stdout), expected)
        except ValueError:
            problems = ["`docker compose config --format json` printed no JSON"]
    if problems:
        for problem in problems:
            host.log_styled(f"effective compose configuration: {problem}", fg="red", log_func=logger.error)
        host.log_styled("stopped before `docker compose up`", fg="red", log_func=logger.error)
        return False
    return True


def wait_for_services(state, host, script: str, expected: compose.Expected | None):
    """Run on the controller while the operation executes: ``wait_script`` on the host, its
    output (`compose ps`, the failing services' last log lines: a service may log its
    DATABASE_URL) read here and printed with every secret redacted. False on failure."""
    ok, output = host.run_shell_command(
        _bash(script), print_output=False, print_input=False,
        **pyinfra_compat.current_connector_arguments(host),
    )
    if ok and not state.print_output:  # as pyinfra shows a command's output: -v, or a failure
        return True
    secrets = expected.secret_texts() if expected is not None else []
    for line in output.stdout_lines:
        host.log(compose.redact(line, secrets))
    for line in output.stderr_lines:
        if ok:
            host.log(compose.redact(line, secrets))
        else:
            host.log_styled(compose.redact(line, secrets), fg="red", log_func=logger.error)
    return ok


@operation()
def compose_up(
    app_dir: str,
    base_argv: list[str],
    project: str,
    record_path: str,
    source_id: str | None,
    record_rest: str,
    timeout: int,
    force: bool = False,
    pull: str = "policy",
    before_up: list[str] | None = None,
    source_command: str = "",
    expected: compose.Expected | None = None,
):
    """
    ``<base_argv> up -d --remove-orphans`` in ``app_dir`` when what makes the
    deploy differs from what the last successful deploy recorded in
    ``record_path`` (``source <commit or tree hash>`` + ``record_rest``: the
    overlay, .env hash and command line), when the project has no container
    (taken down by hand), when an image reference names another image ID than
    the one started (re-tagged or pulled: the record keeps the started IDs), when
    ``pull`` is ``always`` (compose pulls; it recreates only what changed), or when
    ``force``; then wait for every service. The record is written only once the
    services are up, so a failed deploy is retried by the next run.

    + base_argv: the compose command line without a subcommand
    + pull: compose_pull: policy (no ``--pull``), missing, always or never
    + source_id: None when the commit is only known on the host (first deploy
      with a deploy key): ``source_command`` prints it there
    + before_up: shell scripts run first (the pre-deploy backup)
    + expected: what the effective configuration's database variables must say,
      checked (check_effective_config) before anything else
    """
    current_record = cached_fact(host, TextFile, path=record_path)
    containers = cached_fact(host, ComposeContainers, project=project)  # their image IDs
    wanted = None if source_id is None else compose.record_text(source_id, record_rest)
    drifted = compose.image_drift(compose.recorded_images(current_record), containers.containers)
    if (wanted is not None and not force and pull != "always" and len(containers) and not drifted
            and compose.same_record(wanted, current_record)):
        host.noop(f"compose project {project} is deployed as recorded")
        return
    if drifted:
        logger.info(f"{host.print_prefix}compose project {project}: another image ID under the same "
                    f"name for {', '.join(drifted)}")
    why = (
        "forced (compose_force_up)" if force
        else "no container is running" if not len(containers)
        else f"another image ID for {', '.join(drifted)}" if drifted
        else "compose_pull = 'always'" if pull == "always"
        else "its source, overlay or .env changed"
    )
    announce.will(host, f"docker compose up {project}: containers whose configuration changed are "
                        f"recreated ({why})")
    if expected is not None:
        yield FunctionCommand(check_effective_config, (app_dir, base_argv, expected), {})
    for script in before_up or []:
        yield _bash(script)
    q = shlex.quote
    yield _bash(f"cd {q(app_dir)} && {compose.shell([*base_argv, *compose.up_args(pull)])}")
    yield FunctionCommand(wait_for_services, (wait_script(base_argv, project, timeout), expected), {})
    if source_id is not None:
        write = f"printf '%s' {q(wanted)}"
    else:
        write = f"printf 'source %s\\n' \"$({source_command})\"; printf '%s' {q(record_rest)}"
    images = compose.images_record_script(project)  # the IDs `up` started
    yield _bash(f"{{ {write}; {images}; }} > {q(record_path)}.new "
                f"&& mv -f {q(record_path)}.new {q(record_path)}")
    yield announce.did(host, f"docker compose up {project}: services up ({why})")
