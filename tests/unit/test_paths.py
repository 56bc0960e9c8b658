from deploylib.facts.paths import PathsState, parse_paths


def test_parse_paths():
    digest = "ab" * 32
    found = parse_paths([
        "kind\tfile\t/etc/x y",
        "kind\tdirectory\t/var/lib/d",
        "meta\troot root 644\t/etc/x y",
        "meta\troot root 700\t/var/lib/d",
        f"{digest}  /etc/x y",
    ])
    assert found["/etc/x y"].sha256 == digest and found["/etc/x y"].mode == "644"
    assert found["/var/lib/d"].kind == "directory" and found["/var/lib/d"].sha256 is None
    assert "/missing" not in found


def test_command_quotes_paths():
    command = PathsState().command(paths=["/a b", "/c"])
    assert command.startswith("set -- '/a b' /c\n")
    assert PathsState().command(paths=[]) == "true"
