"""The sandbox inventory targets only the hosts this checkout started, or the ones named."""

import json

from sandbox import hosts


def make_sandbox(tmp_path, monkeypatch, owners: dict[int, str]):
    monkeypatch.setattr(hosts, "CACHE_DIR", tmp_path)
    state = {"hosts": {}, "clients": []}
    for index, owner in owners.items():
        host = hosts.HostState(index=index, suite="trixie", pid=0, image="x")
        host.dir.mkdir(parents=True)
        if owner is not None:
            (host.dir / hosts.STARTED_BY_FILE).write_text(owner + "\n")
        state["hosts"][str(index)] = host.__dict__
    (tmp_path / "state.json").write_text(json.dumps(state))


def names(pairs):
    return [name for name, _ in pairs]


def test_only_this_checkouts_hosts(tmp_path, monkeypatch):
    here = str(hosts.REPO)
    make_sandbox(tmp_path, monkeypatch, {1: here, 2: "/elsewhere/clone", 3: None, 4: here})
    assert names(hosts.inventory_hosts()) == ["sbx1", "sbx4"]


def test_named_hosts_whoever_started_them(tmp_path, monkeypatch):
    make_sandbox(tmp_path, monkeypatch, {1: str(hosts.REPO), 2: "/elsewhere/clone", 3: None})
    assert names(hosts.inventory_hosts({2, 3})) == ["sbx2", "sbx3"]
    assert names(hosts.inventory_hosts(set())) == []


def test_backup_hosts_are_their_own_group(tmp_path, monkeypatch):
    """SANDBOX_BACKUP_HOSTS moves hosts into the backup_hosts group (pgBackRest's repository)."""
    import runpy

    here = str(hosts.REPO)
    make_sandbox(tmp_path, monkeypatch, {71: here, 73: here})
    monkeypatch.setenv("SANDBOX_BACKUP_HOSTS", "73")
    monkeypatch.delenv("SANDBOX_HOSTS", raising=False)
    monkeypatch.chdir(hosts.REPO)
    inventory = runpy.run_path(str(hosts.REPO / "inventory" / "sandbox.py"))
    assert names(inventory["sandbox"]) == ["sbx71"]
    assert names(inventory["backup_hosts"]) == ["sbx73"]
