from deploylib.facts.paths import PathsState, parse_paths


def test_parse_paths():
    found = parse_paths([
        "/etc/x\tfile\troot root 644\tabc123",
        "/var/lib/d\tdirectory\troot root 700",
    ])
    assert found["/etc/x"].sha256 == "abc123" and found["/etc/x"].mode == "644"
    assert found["/var/lib/d"].kind == "directory" and found["/var/lib/d"].sha256 is None
    assert "/missing" not in found


def test_command_quotes_paths():
    command = PathsState().command(paths=["/a b", "/c"])
    assert "'/a b'" in command and command.endswith("; true")
