"""The one reader of the facts' `tag\tvalue` lines (deploylib.model.tagged)."""

import pathlib
import re

from deploylib.model.tagged import Tagged, tagged

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_tag_and_value():
    assert list(tagged(["manager\tsystemd", "ls\tabc\trefs/heads/main", "installed", ""])) == [
        ("manager", "systemd"),
        ("ls", "abc\trefs/heads/main"),
        ("installed", ""),
        ("", ""),
    ]


def test_fields_all_and_exact_count():
    item = Tagged.parse("cluster\t17\tmain\t5432\tonline")
    assert item.fields() == ["17", "main", "5432", "online"]
    assert item.fields(4) == ["17", "main", "5432", "online"]
    # missing fields are empty; extra tabs stay in the last field
    assert item.fields(6) == ["17", "main", "5432", "online", "", ""]
    assert item.fields(2) == ["17", "main\t5432\tonline"]
    assert item.fields(1) == ["17\tmain\t5432\tonline"]
    assert Tagged.parse("library\t$libdir/vector").fields(2) == ["$libdir/vector", ""]
    assert Tagged.parse("empty").fields() == [""]


def test_no_hand_written_tag_parser_left():
    """Fact output is read through deploylib.model.tagged only (git's own output excepted)."""
    offenders = []
    for path in sorted((ROOT / "deploylib").rglob("*.py")):
        if path.name == "tagged.py":  # the reader itself
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"""(partition|split)\(["']\\t["']""", line) and "ls_remote" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    allowed = {"deploylib/model/compose.py"}  # git ls-remote's "<sha>\t<ref>" lines: git's format
    assert [o for o in offenders if o.split(":")[0] not in allowed] == []
