"""What a run will do and did, in the operator's words (deploylib/announce.py and the
sentences operations give it)."""

from deploylib import announce
from deploylib.model import prod_guard
from deploylib.model.server_settings import SettingsPlan, settings_action
from deploylib.operations.postgres_objects import role_action


def plan(**kwargs) -> SettingsPlan:
    fields = dict(which="dropin", path="/x", current="", wanted="", changed=set(), in_file={},
                  ours=set(), restart_for=[], may_restart=True)
    return SettingsPlan(**{**fields, **kwargs})


def test_restart_names_the_settings_that_need_it():
    restart = plan(changed={"listen_addresses"}, restart_for=["listen_addresses"])
    will, did = settings_action(restart, "17/main")
    assert will.startswith("restart PostgreSQL 17/main for listen_addresses")
    assert did == "restarted PostgreSQL 17/main for listen_addresses"


def test_reload_is_never_called_a_restart():
    will, did = settings_action(plan(changed={"work_mem"}), "17/main")
    assert will == "reload PostgreSQL 17/main for work_mem, no restart"
    assert did == "reloaded PostgreSQL 17/main for work_mem"
    assert "restarted" not in did


def test_restart_not_allowed_is_a_reload():
    will, did = settings_action(
        plan(changed={"shared_buffers"}, restart_for=["shared_buffers"], may_restart=False), "15/main"
    )
    assert will.startswith("reload PostgreSQL 15/main for shared_buffers") and "restarted" not in did


def test_role_rotation_and_attributes_are_told_apart():
    will, did = role_action("hatchet", [], rotates=True)
    assert "rotate its password" in will and "attributes" not in will
    assert did == "role hatchet: rotated its password"
    will, did = role_action("hatchet", ["NOSUPERUSER"], rotates=False)
    assert "change its attributes (NOSUPERUSER), password unchanged" in will
    assert "password" not in did
    will, _ = role_action("hatchet", [], rotates=False)
    assert "comment" in will


def test_plan_and_summary_text():
    text = announce.plan_text("dev-1", ["restart PostgreSQL 17/main for listen_addresses"], ["dev: defaults"])
    assert text.splitlines() == [
        "--> Planned on dev-1:",
        "    restart PostgreSQL 17/main for listen_addresses",
        "    note: dev: defaults",
    ]
    summary = announce.summary_text({"dev-1": ["restarted PostgreSQL 17/main for listen_addresses"]})
    assert summary.splitlines() == [
        "--> Done:", "    [dev-1] restarted PostgreSQL 17/main for listen_addresses"
    ]


def test_prod_guard_lists_the_announcements():
    message = prod_guard.refusal(
        "prod", "db1", prod_guard.RunMode(yes=True, dry=False, json_output=False), False,
        ["Role hatchet"], "deploy.py", announcements=["role hatchet: rotate its password"],
    )
    assert "That is:\n      - role hatchet: rotate its password" in message
