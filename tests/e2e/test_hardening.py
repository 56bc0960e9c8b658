"""Issue 13 on a real host: git never runs as root in the application's checkout, and the
secret files (.env, deploy key) are never readable by others at any moment, with sudo given
on the command line (--sudo) rather than in host data.

A sampler on the host records, as fast as it can during the deploy, every file that holds
one of the secrets (pyinfra's /tmp staging files, the deploy's upload directory, the
checkout) with its mode, and the upload directory's mode.
"""

from __future__ import annotations

import shlex
import textwrap

import pytest

from sandbox import hosts

from .harness import converge, run_deploy, ssh
from .test_app import (
    _git,
    app_data,
    app_repo,  # noqa: F401 - a fixture this module's test uses
    import_test_image,
)

pytestmark = pytest.mark.e2e

KEY = str(hosts.ssh_key_path())
ENV_CANARY = "envcanary-7c1f2d"
KEY_CANARY = "keycanary-93b0aa"
# ssh as the deploy user; sudo from the command line (--sudo), not from host data.
AS_DEPLOY_USER_CLI_SUDO = {"ssh_user": "deploy", "ssh_key": KEY}
UPLOAD_DIR = "/run/hatchet-owlclaw-deploy-upload"
# The planted commands record the uid they ran as: one file per uid, in a directory anyone may
# write to (so no run fails for want of permission, whoever ran first).
PLANTED = "/tmp/planted-git-ran-as"

SAMPLER = textwrap.dedent(f"""\
    while [ ! -e /tmp/sampler.stop ]; do
        for f in /tmp/pyinfra-* {UPLOAD_DIR}/* /data/owlclaw/.env* /data/owlclaw/.git/deploy-key*; do
            [ -f "$f" ] && grep -qs -e {ENV_CANARY} -e {KEY_CANARY} "$f" \\
                && stat -c 'file %a %U %n' "$f"
        done
        [ -d {UPLOAD_DIR} ] && stat -c 'dir %a %U %n' {UPLOAD_DIR}
    done >> /tmp/sampler.log 2>/dev/null
""")


def test_cli_sudo_keeps_secrets_private_and_git_never_runs_as_root(fresh_trixie, app_repo,  # noqa: F811
                                                                   tmp_path):
    host = fresh_trixie
    deploy_key = tmp_path / "deploy-key"
    deploy_key.write_text(f"-----BEGIN OPENSSH PRIVATE KEY-----\n{KEY_CANARY}\n"
                          "-----END OPENSSH PRIVATE KEY-----\n")
    deploy_key.chmod(0o600)
    assert converge(host, overrides={"deploy_user_public_key_file": KEY + ".pub"},
                    deploy_file="bootstrap.py").ok
    started = run_deploy(host, deploy_file="tasks/docker.py", overrides=app_data(app_repo))
    assert started.ok, started.describe()
    import_test_image(host)

    data = {**app_data(app_repo), **AS_DEPLOY_USER_CLI_SUDO, "app_deploy_key": str(deploy_key),
            "app_env": {"CANARY": ENV_CANARY}}
    ssh(host, "rm -f /tmp/sampler.stop /tmp/sampler.log; "
              f"nohup bash -c {shlex.quote(SAMPLER)} >/dev/null 2>&1 &")
    try:
        first = converge(host, overrides=data, extra_args=("--sudo",))
    finally:
        ssh(host, "touch /tmp/sampler.stop")
    assert "App .env" in first.changed and "Deploy key" in first.changed

    samples = ssh(host, "sleep 0.5; sort -u /tmp/sampler.log").stdout.splitlines()
    files = [line.split(" ", 3) for line in samples if line.startswith("file ")]
    # The sampler saw the secrets (the final files at least): it can see what it looks for.
    names = {name for _, _, _, name in files}
    assert {"/data/owlclaw/.env", "/data/owlclaw/.git/deploy-key"} <= names, samples
    for _, mode, owner, name in files:
        private = mode.endswith("00")
        in_upload_dir = name.startswith(UPLOAD_DIR + "/")
        assert private or in_upload_dir, f"{name} held a secret with mode {mode} ({owner}): {samples}"
        assert not name.startswith("/tmp/"), f"a secret was staged in /tmp: {name} {mode}"
    dirs = {line for line in samples if line.startswith("dir ")}
    assert dirs <= {f"dir 700 deploy {UPLOAD_DIR}"}, dirs

    # git: a fsmonitor and hooks planted by the checkout's owner (app_user = deploy).
    record = f'touch {PLANTED}/$(id -u) 2>/dev/null'
    plant = textwrap.dedent(f"""\
        set -e
        cd /data/owlclaw
        git config core.fsmonitor '{record}; false'
        for hook in post-checkout pre-commit reference-transaction post-merge; do
            printf '#!/bin/sh\\n%s\\nexit 0\\n' '{record}' > .git/hooks/$hook
            chmod +x .git/hooks/$hook
        done
    """)
    ssh(host, f"install -d -m 1777 {PLANTED}")
    ssh(host, f"runuser -u deploy -- bash -c {shlex.quote(plant)}")
    # Control: the plant works: root running git there the old way (safe.directory) runs it.
    ssh(host, "git -c safe.directory=/data/owlclaw -C /data/owlclaw status >/dev/null 2>&1 || true")
    assert ssh(host, f"ls {PLANTED}").stdout.split() == ["0"]
    ssh(host, f"rm -f {PLANTED}/*")

    # A new ref: the fact (status, rev-parse), the checkout and the record all run git there.
    work = app_repo["work"]
    (work / "README").write_text("hardening test\n")
    _git(work, "commit", "-q", "-am", "hardening")
    _git(work, "push", "-q", str(app_repo["bare"]), "HEAD:refs/heads/hardening")
    moved = converge(host, overrides={**data, "app_ref": "hardening"}, extra_args=("--sudo",))
    assert "App repository at hardening" in moved.changed
    ran_as = ssh(host, f"ls {PLANTED}").stdout.split()
    assert "0" not in ran_as, f"planted git config or hook ran as root (uids {ran_as})"
    # ... and it did run, as the checkout's owner (git honoured the hooks: the check can see them).
    assert ran_as == [ssh(host, "id -u deploy").stdout.strip()], ran_as
