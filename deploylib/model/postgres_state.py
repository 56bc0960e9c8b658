"""What a host's PostgreSQL server is, as the facts report it: plain values the facts build and the
model's decisions read (pure: may import only the model)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .scram import verifier_digest_matches


@dataclass
class PgRole:
    name: str
    attributes: dict[str, bool]
    verifier_head: str  # "SCRAM-SHA-256$<iterations>:<salt>" of the stored verifier
    verifier_sha256: str  # hex digest of the whole stored verifier

    def password_matches(self, password: str) -> bool:
        """Recompute the verifier with the stored salt and iterations; compare digests."""
        return verifier_digest_matches(password, self.verifier_head, self.verifier_sha256)


@dataclass
class PgDatabase:
    name: str
    owner: str
    encoding: str
    acl: str  # datacl as text ("" = default privileges)
    settings: dict[str, str] = field(default_factory=dict)  # ALTER DATABASE ... SET
    extensions: set[str] = field(default_factory=set)
    # installed extensions whose version is not the default one the server's package ships
    # (after a package upgrade): name -> (installed, default)
    outdated_extensions: dict[str, tuple[str, str]] = field(default_factory=dict)
    seeds: dict[str, str] = field(default_factory=dict)  # sha256 -> file
    # what SEED_TABLE is when it is not a plain table of text columns (a view...): not read
    seed_table_refused: str = ""


@dataclass
class PgObjects:
    roles: dict[str, PgRole]
    databases: dict[str, PgDatabase]
    available_extensions: set[str]  # installable (package present)
    template_encoding: str = "UTF8"
    # name -> COMMENT of every database/role carrying one of the deploy's (any environment)
    managed_databases: dict[str, str] = field(default_factory=dict)
    managed_roles: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def carrying(managed: dict[str, str], comment: str) -> set[str]:
        """The names whose comment is exactly ``comment`` (one environment's)."""
        return {name for name, text in managed.items() if text == comment}


@dataclass
class PgSetting:
    value: str
    context: str
    pending_restart: bool
    unit: str = ""  # pg_settings.unit: the base unit of `value` ("8kB", "ms", ...)
    vartype: str = ""  # bool, integer, real, string, enum
    enumvals: tuple = ()  # an enum's accepted values
    min_val: str = ""  # a number's range, in `unit`
    max_val: str = ""


@dataclass(frozen=True)
class PgFileSetting:
    """One line of pg_file_settings: where a setting is set, in reading order."""

    seqno: int
    name: str
    sourcefile: str
    sourceline: int
    applied: bool
    error: str = ""


@dataclass
class PgCluster:
    version: str
    name: str
    port: int
    status: str
    settings: dict[str, PgSetting] = field(default_factory=dict)
    pending_restart: list[str] = field(default_factory=list)
    started_at: float | None = None
    conf_loaded_at: float | None = None  # last reload (pg_conf_load_time)
    file_mtimes: dict[str, float] = field(default_factory=dict)  # "hba", "conf", "dropin"
    hba_text: str | None = None
    conf_text: str | None = None
    dropin_text: str | None = None
    postgres_bin: str | None = None
    query_failed: bool = False
    # pg_file_settings lines of the managed settings, in reading order.
    file_settings: list[PgFileSetting] = field(default_factory=list)
    mem_total_kb: int | None = None  # the host's MemTotal
    # shared_preload_libraries entry asked about -> the files found for it ("" = none).
    libraries: dict[str, str] = field(default_factory=dict)
    # PostgresObjects' answer for this cluster when PostgresServer was asked for it
    # (None: not asked, or its script failed).
    objects: PgObjects | None = None
    setting_names: frozenset = frozenset()  # every name in pg_settings
    # pg_stat_archiver (pgbackrest.parse_archiver's dict; None: unreadable).
    archiver: dict | None = None

    @property
    def id(self) -> str:
        return f"{self.version}/{self.name}" if self.version else self.name

    @property
    def online(self) -> bool:
        return "online" in self.status

    def setting(self, name: str) -> str | None:
        found = self.settings.get(name)
        return found.value if found else None

    @property
    def config_file(self) -> str | None:
        return self.setting("config_file")

    @property
    def hba_file(self) -> str | None:
        return self.setting("hba_file")

    @property
    def data_directory(self) -> str | None:
        return self.setting("data_directory")

    def changed_since_reload(self, which: str) -> bool:
        """Was file `which` ("hba", "conf", "dropin") modified after the server last read its files?"""
        mtime = self.file_mtimes.get(which)
        return bool(mtime and self.conf_loaded_at and mtime > self.conf_loaded_at)

    @property
    def major_version(self) -> int | None:
        number = self.setting("server_version_num")
        return int(number) // 10000 if number else None


@dataclass
class PgServer:
    service_manager: str
    has_pg_ctlcluster: bool
    clusters: list[PgCluster]
    # How the clusters were listed: "files" (every Debian cluster running, read from
    # its PID and socket lock files), "pg_lsclusters", "default" (no Debian tools).
    listed_by: str = ""
