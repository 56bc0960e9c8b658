"""The application: its repository at app_ref (git) or a local checkout (rsync, dev), the
.env with the database secrets, this environment's compose overlay, and `docker compose up`
only when one of them changed; then every service must come up."""

from pyinfra import host, logger
from pyinfra.operations import server

from deploylib import managed_paths, postgres_rules
from deploylib.bootstrap import host_docker_packages
from deploylib.model import backups, compose
from deploylib.model.config import Secret
from deploylib.model.shell import as_user, git_in
from deploylib.operations import app, paths
from deploylib.operations.backups import run_backup_script

settings = host.data.settings
user = settings.app_user

if not compose.app_enabled(settings):
    logger.info(f"{host.print_prefix}no app_repo or app_local_dir: application step skipped")
else:
    state_dir = compose.state_dir(settings)
    parent = managed_paths.app_parent_dir(settings)

    if user != "root":
        server.group(name=f"App group {user}", group=user, system=True)
        server.user(
            name=f"App user {user}",
            user=user,
            group=user,
            groups=["docker"],
            append=True,
            system=True,
            home=f"/home/{user}",
            create_home=True,
            shell="/bin/bash",
        )
    if parent != "/":
        paths.directory(name=f"{parent} exists", path=parent)
    paths.directory(name=f"App directory {settings.app_dir}", path=settings.app_dir, user=user, group=user,
                    mode="755")
    paths.directory(name="Compose state directory", path=state_dir, user="root", group="root", mode="700")

    key_path = None
    if settings.app_deploy_key:
        key_path = f"{settings.app_dir}/.git/deploy-key"
        paths.directory(name="Git directory for the deploy key", path=f"{settings.app_dir}/.git",
                        user=user, group=user, mode="755")
        with open(settings.app_deploy_key) as key_file:
            app.secret_file(
                name="Deploy key",
                path=key_path,
                content=Secret(key_file.read(), settings.app_deploy_key),
                user=user,
                group=user,
            )

    if settings.app_repo:
        app.git_checkout(
            name=f"App repository at {settings.app_ref}",
            path=settings.app_dir,
            url=settings.app_repo,
            ref=settings.app_ref,
            user=user,
            key_path=key_path,
        )
        checkout = app.git_checkout_fact(settings.app_dir, settings.app_repo, user, key_path)
        source_id = app.wanted_commit(settings.app_ref, checkout)
    else:
        marker = f"{state_dir}/pushed-tree"
        app.local_tree(
            name=f"App tree from {settings.app_local_dir}",
            src=settings.app_local_dir,
            dest=settings.app_dir,
            excludes=settings.app_rsync_excludes,
            user=user,
            marker=marker,
        )
        source_id = compose.tree_hash(settings.app_local_dir, settings.app_rsync_excludes)

    # One source for the port: the managed cluster's, as pg_hba, the firewall and the backups.
    _, cluster = postgres_rules.server_and_cluster(host, settings)
    env_text = compose.render_env(settings, cluster.port)
    app.secret_file(
        name="App .env",
        path=compose.env_path(settings),
        content=Secret(env_text, "templates/app.env.j2"),
        user=user,
        group=user,
        diff_kind="env",  # --diff names the changed keys, never a value
    )

    overlay = compose.render_overlay(settings)
    paths.file_content(
        name=f"Compose overlay ({settings.environment})",
        path=compose.overlay_path(settings),
        content=overlay,
        user="root",
        group="root",
        mode="644",
    )

    docker = managed_paths.docker_engine(host, settings)
    packages = compose.docker_packages(host_docker_packages(host, settings), docker)
    prefix = compose.compose_prefix(docker, packages)
    base_argv = compose.compose_command(
        prefix, settings.compose_project, compose.env_path(settings), compose.compose_files(settings)
    )

    # The installed backup script (tasks/backups.py), only when `up` is about to run.
    backup_script = backups.script_path(settings.environment)
    before_up = [run_backup_script(backup_script)] if settings.backup_before_deploy else []

    app.compose_up(
        name=f"docker compose up ({settings.compose_project})",
        app_dir=settings.app_dir,
        base_argv=base_argv,
        project=settings.compose_project,
        record_path=compose.record_path(settings),
        source_id=source_id,
        record_rest=compose.record_rest(overlay, compose.sha256_text(env_text), base_argv),
        timeout=settings.compose_up_timeout,
        force=settings.compose_force_up,
        pull=settings.compose_pull,
        before_up=before_up,
        source_command=as_user(user, git_in(settings.app_dir, "rev-parse", "HEAD")),
        expected=compose.expected_config(settings, cluster.port),
    )
