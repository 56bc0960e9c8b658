from deploylib.model import pg_sql


def test_quoting():
    assert pg_sql.ident('we"ird') == '"we""ird"'
    assert pg_sql.literal("it's $ \\ ok") == "'it''s $ \\ ok'"


def test_create_role_has_only_login():
    sql = pg_sql.create_role("hatchet", "SCRAM-SHA-256$4096:c2FsdA==$a:b")
    assert sql.startswith('CREATE ROLE "hatchet" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT')
    assert "NOREPLICATION NOBYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:c2FsdA==$a:b';" in sql


def test_attribute_drift():
    good = pg_sql.wanted_attributes()
    assert pg_sql.attribute_drift(good) == []
    assert pg_sql.attribute_drift({**good, "rolsuper": True, "rolcanlogin": False}) == [
        "LOGIN",
        "NOSUPERUSER",
    ]
    assert pg_sql.alter_role("r", [], None) == ""
    assert pg_sql.alter_role("r", ["NOSUPERUSER"], "v") == "ALTER ROLE \"r\" NOSUPERUSER PASSWORD 'v';\n"


def test_settings_drift():
    assert pg_sql.settings_drift({"timezone": "UTC"}, {"timezone": "UTC"}) == {}
    assert pg_sql.settings_drift({"timezone": "UTC"}, {"TimeZone": "UTC"}) == {}
    assert pg_sql.settings_drift({}, {"timezone": "UTC"}) == {"timezone": "UTC"}
    assert pg_sql.settings_drift({"jit": "on"}, {"jit": False}) == {"jit": False}
    assert pg_sql.set_database_settings("d", {"jit": False}) == "ALTER DATABASE \"d\" SET jit = 'off';\n"


def test_connect_grantees():
    assert pg_sql.connect_grantees("") is None
    assert pg_sql.connect_grantees("{=Tc/o,o=CTc/o}") == {"", "o"}
    assert pg_sql.connect_grantees("{=T/o,o=CTc/o,other=c/o}") == {"o", "other"}
    assert pg_sql.connect_grantees('{=T/o,"we ird"=c/o}') == {"we ird"}


def test_isolation_sql():
    default = pg_sql.isolation_sql("hatchet", "hatchet", "", ["owlclaw"])
    assert 'REVOKE CONNECT ON DATABASE "hatchet" FROM PUBLIC;' in default
    assert 'GRANT CONNECT ON DATABASE "hatchet" TO "hatchet";' in default
    isolated = "{=T/hatchet,hatchet=CTc/hatchet}"
    assert pg_sql.isolation_sql("hatchet", "hatchet", isolated, ["owlclaw"]) == ""
    leaked = "{=T/hatchet,hatchet=CTc/hatchet,owlclaw=c/hatchet}"
    assert pg_sql.isolation_sql("hatchet", "hatchet", leaked, ["owlclaw"]) == (
        'REVOKE CONNECT ON DATABASE "hatchet" FROM "owlclaw";\n'
    )


def test_create_database_locale_only_when_needed():
    assert "LOCALE" not in pg_sql.create_database("d", "o", "UTF8")
    assert "LOCALE 'C.UTF-8'" in pg_sql.create_database("d", "o", "SQL_ASCII")


def test_seed_sql_runs_as_owner_and_records():
    sql = pg_sql.seed_sql("owlclaw", "abc", "seed.sql", "INSERT INTO t VALUES (1);")
    assert sql.index('SET ROLE "owlclaw"') < sql.index("INSERT INTO t")
    assert "INSERT INTO public.deploy_seed_applied (sha256, file) VALUES ('abc', 'seed.sql');" in sql


def test_managed_comment_per_environment():
    from deploylib.model.pg_sql import MANAGED_COMMENT_PREFIX, comment_on, managed_comment

    assert managed_comment("prod") == "managed by hatchet-owlclaw deploy (prod)"
    assert managed_comment("staging") != managed_comment("prod")
    assert managed_comment("staging").startswith(MANAGED_COMMENT_PREFIX)
    assert comment_on("DATABASE", "hatchet", managed_comment("prod")) == (
        "COMMENT ON DATABASE \"hatchet\" IS 'managed by hatchet-owlclaw deploy (prod)';\n"
    )
    import pytest

    with pytest.raises(ValueError, match="unknown environment"):
        managed_comment("qa")
