import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    """A scratch copy of the project's data and entry points; cwd moves there."""
    import shutil

    for name in ("group_data", "inventory", "tasks", "templates"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, tmp_path / name)
    for name in ("deploy.py",):
        shutil.copy(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DEPLOY_OVERRIDES", raising=False)
    return tmp_path


def pytest_report_header(config):
    return f"running as uid {os.geteuid()}"
