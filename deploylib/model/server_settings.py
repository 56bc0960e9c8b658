"""What a run does with a PostgreSQL server's settings (postgresql.conf: our drop-in or our block),
decided from the PostgresServer fact's values alone: what changes, reload or restart, what to put
back if a restart fails, and the refusals that stop a run before anything changes (pure: may
import only the model)."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field

from . import pg_commands, pg_safety
from .managed_block import find_block, find_blocks, split_lines
from .pg_conf import (
    apply_managed_lines,
    conf_values,
    include_dirs,
    managed_part,
    parse_conf,
    render_dropin,
    written_by,
)
from .postgres_state import PgCluster, PgServer


def changed_setting_names(old_text: str | None, new_text: str) -> set[str]:
    old = conf_values(old_text)
    new = conf_values(new_text)
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


def shared_settings_decision(
    writer: str | None, environment: str | None, owner: str | None, differ: bool
) -> str:
    """What a run does with server settings another environment may have written:
    "write" (no other writer, or this environment owns them), "keep" (the other's file
    has the same settings), "leave" (they differ, the writer owns them: notice),
    "fail" (they differ and nobody, or a third environment, owns them)."""
    if not writer or not environment or writer == environment or owner == environment:
        return "write"
    if not differ:
        return "keep"
    return "leave" if owner == writer else "fail"


def server_settings_conflict(
    writer: str, environment: str, owner: str | None, old_managed: str, new_managed: str
) -> str:
    """What differs between the server settings ``writer`` wrote and ``environment``'s,
    and what to do about it (an error, or with ``owner == writer`` a notice)."""
    old = conf_values(old_managed)
    new = conf_values(new_managed)
    diffs = "; ".join(
        f"{name}: {writer} {old.get(name, '(unset)')!r}, {environment} {new.get(name, '(unset)')!r}"
        for name in sorted(old.keys() | new.keys())
        if old.get(name) != new.get(name)
    )
    if owner == writer:
        return (
            f"server settings (postgresql.conf) on this host belong to {writer} "
            f"(pg_server_settings_owner); {environment}'s differ and were left as {writer} wrote "
            f"them: {diffs}"
        )
    return (
        f"{environment} and {writer} disagree on server settings for this host: {diffs}. "
        "PostgreSQL has one postgresql.conf: make pg_listen_addresses/pg_settings equal in "
        f"group_data/{environment}.py and group_data/{writer}.py, or set pg_server_settings_owner "
        f"(in both) to the environment whose settings win. Nothing was changed."
    )


def dropin_path(cluster: PgCluster, dropin_name: str) -> str | None:
    """Our drop-in's path, when postgresql.conf includes a directory."""
    dirs = include_dirs(cluster.conf_text or "")
    if not dirs:
        return None
    directory = dirs[-1]
    if not directory.startswith("/"):
        directory = cluster.config_file.rsplit("/", 1)[0] + "/" + directory
    return f"{directory}/{dropin_name}"


def _our_entries(cluster: PgCluster, which: str, path: str, current: str):
    """Which pg_file_settings entries are the deploy's: its drop-in, or the lines of its
    block in postgresql.conf."""
    if which == "dropin":
        return lambda entry: entry.sourcefile == path
    span = find_block(split_lines(current))
    lines = range(span[0] + 2, span[1] + 1) if span else range(0)
    return lambda entry: entry.sourcefile == path and entry.sourceline in lines


def _environments_on_server(cluster: PgCluster, writer: str | None) -> set[str]:
    try:
        hba_tags = find_blocks(split_lines(cluster.hba_text or "")).keys()
    except ValueError:  # broken markers: hba_rules reports them
        hba_tags = ()
    objects = cluster.objects
    comments = [*objects.managed_databases.values(), *objects.managed_roles.values()] if objects else []
    return pg_safety.environments_on_server(hba_tags, writer, comments)


def _rollback_file(which: str, current: str, values: dict, writer: str | None) -> str:
    """Our file with ``values`` (name -> text), as it is written."""
    if which == "dropin":
        return render_dropin(values, environment=writer)
    return apply_managed_lines(current, values, writer)


@dataclass
class SettingsPlan:
    """What a run does with the server settings, decided from the PostgresServer fact
    alone (no host access): ``refusal`` stops the run before anything changes."""

    which: str  # "dropin" or "conf"
    path: str
    current: str
    wanted: str
    changed: set
    in_file: dict  # name -> value as PostgreSQL reads it from the file
    ours: set  # the settings the deploy answers for (in its file, before or after)
    restart_for: list
    may_restart: bool
    fallback: str | None = None  # the file to put back if a restart fails
    fallback_absent: bool = False  # ... there was none: remove the file instead
    resets: list = dataclass_field(default_factory=list)  # ALTER SYSTEM RESET these
    not_in_effect: list = dataclass_field(default_factory=list)
    notices: list = dataclass_field(default_factory=list)
    refusal: str | None = None


def plan_server_settings(
    server: PgServer,
    cluster: PgCluster,
    settings: dict,
    dropin_name: str,
    allow_restart: bool = True,
    environment: str | None = None,
    owner: str | None = None,
    restart_policies: dict | None = None,
    reset_overrides: bool = False,
) -> SettingsPlan:
    """The decisions of :func:`server_settings` (same arguments). The task asks for it
    while planning, so that a refusal stops the run before any operation executes."""
    path = dropin_path(cluster, dropin_name)
    if path:
        which, current = "dropin", cluster.dropin_text or ""
        wanted = render_dropin(settings, environment=environment)
        old_managed, new_managed = current, wanted
    else:
        which, path, current = "conf", cluster.config_file, cluster.conf_text or ""
        wanted = apply_managed_lines(current, settings, environment)
        old_managed, new_managed = managed_part(current), managed_part(wanted)
    said = []

    def refused(message: str) -> SettingsPlan:
        return SettingsPlan(which, path, current, current, set(), {}, set(), [], False, refusal=message)

    # Names and values the server would refuse: stop while planning, naming them.
    refused_values = pg_safety.setting_problems(settings, cluster.settings, cluster.setting_names)
    if refused_values:
        return refused(
            f"PostgreSQL {cluster.id} would refuse pg_settings: " + "; ".join(refused_values)
            + ". Fix pg_settings in group_data. Nothing was changed."
        )
    changed = changed_setting_names(old_managed, new_managed)
    writer = written_by(old_managed)
    decision = shared_settings_decision(writer, environment, owner, bool(changed))
    if decision in ("fail", "leave"):
        message = server_settings_conflict(writer, environment, owner, old_managed, new_managed)
        if decision == "fail":
            return refused(message)
        said.append(message)
    if decision != "write":
        # Another environment's file with the same settings (or theirs to decide): kept
        # as it is, header included, so alternating runs change nothing.
        wanted, new_managed, changed = current, old_managed, set()
    in_file = conf_values(new_managed)
    ours = set(in_file) | {name for _, name, _ in parse_conf(old_managed)}

    # A later file (ALTER SYSTEM's postgresql.auto.conf, an include) would win: stop now.
    is_ours = _our_entries(cluster, which, path, current)
    found = pg_safety.overrides(
        cluster.file_settings, in_file, is_ours,
        pg_safety.read_after_dropin(path if which == "dropin" else None),
    )
    blocking = [o for o in found if not (reset_overrides and o.by_alter_system)]
    if blocking:
        return refused(
            f"PostgreSQL {cluster.id}: " + "; ".join(o.describe() for o in blocking)
            + ". Nothing was changed."
        )
    resets = sorted(o.name for o in found)
    if resets:
        said.append(
            f"PostgreSQL {cluster.id}: ALTER SYSTEM RESET "
            + ", ".join(f"{o.name} (was {o.sourcefile}:{o.sourceline})" for o in found)
            + " (pg_reset_overrides = True)"
        )

    pending = set(cluster.pending_restart)
    # Changed here, or made to take effect by resetting an override, or already waiting.
    restart_for = sorted(
        {n for n in changed | set(resets)
         if n in cluster.settings and cluster.settings[n].context == "postmaster"}
        | (pending & ours)
    )
    # Values PostgreSQL would not start with: stop before changing anything.
    current_values = {
        name: (cluster.settings[name].value, cluster.settings[name].unit)
        for name in ("shared_buffers", "shared_memory_size", "max_connections")
        if name in cluster.settings
    }
    problems = pg_safety.start_problems(
        in_file, changed | set(restart_for), current_values, cluster.mem_total_kb, cluster.libraries
    )
    if problems:
        return refused(f"PostgreSQL {cluster.id}: " + "; ".join(problems) + ". Nothing was changed.")

    blockers = pg_safety.restart_blockers(
        environment, allow_restart, _environments_on_server(cluster, writer), restart_policies or {}
    )
    foreign = sorted(pending - ours)
    if foreign:
        blockers.append(
            "; ".join(
                f"{n} also waits for a restart, "
                + pg_safety.who_set(n, cluster.file_settings, is_ours, writer)
                for n in foreign
            )
            + ": not this deploy's to restart for"
        )
    may_restart = not blockers
    if restart_for and not may_restart:
        waiting = ", ".join(
            f"{n} ({'changed by this run' if n in changed else pg_safety.who_set(n, cluster.file_settings, is_ours, writer)})"
            for n in restart_for
        )
        restart_command = pg_commands.restart(
            server.service_manager, server.has_pg_ctlcluster, cluster.version, cluster.name
        )
        said.append(
            f"PostgreSQL {cluster.id} needs a restart for {waiting}; it is not restarted: "
            + "; ".join(blockers)
            + f". Restart it in a maintenance window: {restart_command} (docs/RUNBOOK.md)"
        )

    # Managed settings whose value in effect is not the file's (a reload that never
    # happened, an override reset by hand): activate and check again.
    not_in_effect = [
        name for name, value in in_file.items()
        if name in cluster.settings and name not in restart_for
        and not (cluster.settings[name].pending_restart and not may_restart)
        and not pg_safety.setting_matches(
            value, cluster.settings[name].value, cluster.settings[name].vartype, cluster.settings[name].unit
        )
    ]
    fallback, fallback_absent = None, False
    if may_restart:
        previous_text = cluster.dropin_text if which == "dropin" else cluster.conf_text
        if wanted != current and not pending & ours:
            fallback = current  # the previous file, byte for byte
            fallback_absent = previous_text is None
        else:
            # The values the server runs with now, for the settings a restart would change.
            previous = dict(in_file)
            for name in restart_for:
                if name in cluster.settings:
                    previous[name] = cluster.settings[name].value
            fallback = _rollback_file(which, current, previous, written_by(new_managed))
    return SettingsPlan(
        which, path, current, wanted, changed, in_file, ours, restart_for, may_restart,
        fallback=fallback, fallback_absent=fallback_absent, resets=resets, not_in_effect=not_in_effect, notices=said,
    )


def settings_action(plan: SettingsPlan, cluster_id: str) -> tuple[str, str]:
    """What activating ``plan`` does, in the operator's words: (plan sentence, summary
    sentence). A restart names the settings that need it; a reload says it is not one."""
    if plan.restart_for and plan.may_restart:
        names = ", ".join(plan.restart_for)
        return (
            f"restart PostgreSQL {cluster_id} for {names} (open connections are dropped)",
            f"restarted PostgreSQL {cluster_id} for {names}",
        )
    names = ", ".join(sorted(plan.changed | set(plan.resets) | set(plan.not_in_effect)))
    why = f"for {names}" if names else "to load postgresql.conf as it is on disk"
    return f"reload PostgreSQL {cluster_id} {why}, no restart", f"reloaded PostgreSQL {cluster_id} {why}"
