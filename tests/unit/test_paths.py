from deploylib.facts.paths import PathsState, parse_paths


def test_parse_paths():
    digest = "ab" * 32
    found = parse_paths([
        "kind\t/etc/x y\tfile",
        "kind\t/var/lib/d\tdirectory",
        "meta\t/etc/x y\troot root 644",
        "meta\t/var/lib/d\troot root 700",
        f"{digest}  /etc/x y",
    ])
    assert found["/etc/x y"].sha256 == digest and found["/etc/x y"].mode == "644"
    assert found["/var/lib/d"].kind == "directory" and found["/var/lib/d"].sha256 is None
    assert "/missing" not in found


def test_command_quotes_paths():
    command = PathsState().command(paths=["/a b", "/c"])
    assert "'/a b' /c" in command and command.endswith("; true")
    assert PathsState().command(paths=[]) == "true"
