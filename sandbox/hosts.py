"""Throwaway Debian hosts on this machine, built from Linux namespaces.

Each host is a network namespace (veth on a private bridge, its own IP) plus
mount/PID/UTS/IPC namespaces whose root is an overlayfs over a cached,
debootstrapped Debian root filesystem. PID 1 is tini; it runs sshd, cron and
the distribution's PostgreSQL cluster. Hosts reach Debian's archive only
through an apt-cacher-ng started on the bridge address.

Everything lives under the cache directory (git-ignored); `state.json` records
what was started (PIDs, netns, IPs) so `down` stops exactly that.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

CACHE_DIR = Path(os.environ.get("SANDBOX_CACHE", REPO / ".cache" / "sandbox"))
SUBNET = ipaddress.ip_network(os.environ.get("SANDBOX_SUBNET", "10.213.7.0/24"))
BRIDGE = os.environ.get("SANDBOX_BRIDGE", "sbxbr0")
MIRROR = os.environ.get("SANDBOX_MIRROR", "http://deb.debian.org/debian")
PROXY_PORT = 3150  # not 3142: a system apt-cacher-ng may hold that

SUITES = ("trixie", "bookworm")
DEFAULT_SUITE = "trixie"

# What a freshly installed Debian server of ours has. The deploy's own
# packages (pgvector, docker, ...) are deliberately absent: the deploy and the
# bootstrap must install them, through the apt proxy, as on a real server.
BASE_PACKAGES = (
    "openssh-server",
    "postgresql",
    "ufw",
    "iptables",
    "nftables",
    "git",
    "rsync",
    "sudo",
    "python3",
    "cron",
    "tini",
    "iproute2",
    "procps",
    "iputils-ping",
    "netcat-openbsd",
    "less",
    "gnupg",
)

STARTED_BY_FILE = "started-by"  # in a host's directory: the checkout (REPO) that booted it

HOST_IP_OFFSET = 10  # host I gets SUBNET[10 + I]
CLIENT_IP_FIRST = 200  # client namespaces (probes) take addresses from here


class SandboxError(RuntimeError):
    pass


def run(cmd, check=True, **kwargs):
    return subprocess.run(cmd, check=check, text=True, **kwargs)


def quiet(cmd):
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def bridge_ip() -> str:
    return str(SUBNET[1])


def host_ip(index: int) -> str:
    return str(SUBNET[HOST_IP_OFFSET + index])


def host_name(index: int) -> str:
    return f"sbx{index}"


# --------------------------------------------------------------------------- images


def image_key(suite: str) -> str:
    digest = hashlib.sha256()
    digest.update(suite.encode())
    digest.update(MIRROR.encode())
    digest.update(" ".join(BASE_PACKAGES).encode())
    for script in ("build-rootfs.sh", "init.sh"):
        digest.update((HERE / script).read_bytes())
    return f"{suite}-{digest.hexdigest()[:12]}"


def image_dir(suite: str) -> Path:
    """The extracted, read-only lower directory for a suite (built on demand)."""
    if suite not in SUITES:
        raise SandboxError(f"unknown suite {suite!r}; expected one of {', '.join(SUITES)}")
    key = image_key(suite)
    images = CACHE_DIR / "images"
    tarball = images / f"{key}.tar.gz"
    lower = images / key
    if (lower / ".complete").exists():
        return lower
    images.mkdir(parents=True, exist_ok=True)
    if not tarball.exists():
        build = images / f"{key}.build"
        started = time.monotonic()
        print(f"sandbox: building {suite} root filesystem (once; cached as {tarball.name})")
        run([str(HERE / "build-rootfs.sh"), suite, MIRROR, str(build), *BASE_PACKAGES])
        partial = tarball.with_suffix(".partial")
        run(["tar", "-C", str(build), "--numeric-owner", "-czf", str(partial), "."])
        partial.rename(tarball)
        shutil.rmtree(build)
        print(f"sandbox: built {suite} in {time.monotonic() - started:.0f}s")
    if lower.exists():
        shutil.rmtree(lower)
    lower.mkdir()
    run(["tar", "-C", str(lower), "--numeric-owner", "-xzf", str(tarball)])
    (lower / ".complete").touch()
    return lower


# --------------------------------------------------------------------------- state


@dataclass
class HostState:
    index: int
    suite: str
    pid: int  # PID (in our namespace) of the host's PID 1 (tini)
    image: str

    @property
    def name(self) -> str:
        return host_name(self.index)

    @property
    def ip(self) -> str:
        return host_ip(self.index)

    @property
    def netns(self) -> str:
        return self.name

    @property
    def dir(self) -> Path:
        return CACHE_DIR / "hosts" / self.name

    @property
    def started_by(self) -> str:
        """The checkout whose sandbox code started this host ('' if unknown): several
        checkouts may share one sandbox (SANDBOX_CACHE), each targets only its own hosts."""
        try:
            return (self.dir / STARTED_BY_FILE).read_text().strip()
        except OSError:
            return ""


def _state_path() -> Path:
    return CACHE_DIR / "state.json"


def load_state() -> dict:
    try:
        return json.loads(_state_path().read_text())
    except FileNotFoundError:
        return {"hosts": {}, "proxy_pid": None, "clients": []}


def save_state(state: dict) -> None:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = _state_path().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    tmp.rename(_state_path())


def hosts_from_state(state: dict) -> list[HostState]:
    return [HostState(**h) for _, h in sorted(state["hosts"].items(), key=lambda kv: int(kv[0]))]


_lock_depth = 0


def locked(func):
    """Serialise sandbox changes across processes (several test runs may share one sandbox)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        global _lock_depth
        if _lock_depth:
            return func(*args, **kwargs)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        with open(CACHE_DIR / "state.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            _lock_depth += 1
            try:
                return func(*args, **kwargs)
            finally:
                _lock_depth -= 1

    return wrapper


def _pid_is(pid: int | None, marker: str) -> bool:
    """True when `pid` is alive and still the process we started (not a reused PID)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    return marker in cmdline


def _kill(pid: int, marker: str, timeout: float = 15.0) -> None:
    if not _pid_is(pid, marker):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _pid_is(pid, marker):
            return
        time.sleep(0.1)
    if _pid_is(pid, marker):
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)


# --------------------------------------------------------------------------- network


def ensure_bridge() -> None:
    if quiet(["ip", "link", "show", BRIDGE]) != 0:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        run(["ip", "addr", "add", f"{bridge_ip()}/{SUBNET.prefixlen}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])
    # Bridged frames must not go through the main namespace's iptables.
    for knob in ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables"):
        path = Path(f"/proc/sys/net/bridge/{knob}")
        if path.exists():
            path.write_text("0\n")


def attach_netns(netns: str, ip: str) -> None:
    """Create `netns` with a veth on the bridge holding `ip`."""
    if quiet(["ip", "netns", "pids", netns]) != 0:
        run(["ip", "netns", "add", netns])
    outside = f"v{netns}"[:15]
    if quiet(["ip", "link", "show", outside]) != 0:
        # A MAC derived from the IP: a reset host keeps it, so peers' ARP caches stay right.
        mac = "02:5b:" + ":".join(f"{int(octet):02x}" for octet in ip.split("."))
        run(["ip", "link", "add", outside, "type", "veth", "peer", "name", "eth0",
             "address", mac, "netns", netns])
        run(["ip", "link", "set", outside, "master", BRIDGE, "up"])
    ns = ["ip", "netns", "exec", netns]
    run([*ns, "ip", "link", "set", "lo", "up"])
    if ip not in run([*ns, "ip", "-o", "addr", "show", "eth0"], capture_output=True).stdout:
        run([*ns, "ip", "addr", "add", f"{ip}/{SUBNET.prefixlen}", "dev", "eth0"])
    run([*ns, "ip", "link", "set", "eth0", "up"])


def delete_netns(netns: str) -> None:
    quiet(["ip", "link", "del", f"v{netns}"[:15]])
    quiet(["ip", "netns", "del", netns])


def wait_for_port(ip: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((ip, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


# --------------------------------------------------------------------------- apt proxy


def ensure_proxy(state: dict) -> None:
    marker = "sandbox-apt-cacher-ng"
    if _pid_is(state.get("proxy_pid"), marker):
        return
    binary = shutil.which("apt-cacher-ng") or "/usr/sbin/apt-cacher-ng"
    if not Path(binary).exists():
        raise SandboxError("apt-cacher-ng is not installed (apt-get install apt-cacher-ng)")
    base = CACHE_DIR / "apt-cacher-ng"
    for sub in ("cache", "log", "run", "conf"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    # Our own config: plain caching of the URLs the hosts ask for, no mirror
    # remapping (the distribution's remaps point at mirrors unreachable here).
    (base / "conf" / "acng.conf").write_text(
        "SupportDir: /usr/lib/apt-cacher-ng\nExThreshold: 4\n"
    )
    log = open(base / "log" / "stdout.log", "ab")
    proc = subprocess.Popen(
        [
            binary,
            "-c",
            str(base / "conf"),
            "ForeGround=1",
            f"BindAddress={bridge_ip()}",
            f"Port={PROXY_PORT}",
            f"CacheDir={base / 'cache'}",
            f"LogDir={base / 'log'}",
            f"PidFile={base / 'run' / 'pid'}",
            f"SocketPath={base / 'run' / 'socket'}",
            # marker in argv so `down` can tell this process from a reused PID
            f"ReportPage=acng-report-{marker}.html",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    state["proxy_pid"] = proc.pid
    save_state(state)
    if not wait_for_port(bridge_ip(), PROXY_PORT, 10):
        raise SandboxError(f"apt-cacher-ng did not start; see {base / 'log'}")


# --------------------------------------------------------------------------- hosts


def _prepare_upper(host: HostState) -> None:
    """Per-host identity, written into the overlay's upper dir before boot."""
    upper = host.dir / "upper"
    for sub in ("etc/apt/apt.conf.d", "root/.ssh"):
        (upper / sub).mkdir(parents=True, exist_ok=True)
    (upper / "etc/hostname").write_text(f"{host.name}\n")
    (upper / "etc/hosts").write_text(
        f"127.0.0.1 localhost\n{host.ip} {host.name}\n::1 localhost ip6-localhost\n"
    )
    (upper / "etc/apt/apt.conf.d/01sandbox-proxy").write_text(
        f'Acquire::http::Proxy "http://{bridge_ip()}:{PROXY_PORT}";\n'
    )
    _prepare_docker(upper, host)
    (upper / "root/.ssh").chmod(0o700)
    keys = upper / "root/.ssh/authorized_keys"
    keys.write_text(ssh_key_path().with_suffix(".pub").read_text())
    keys.chmod(0o600)


def cgroup_parent(host: HostState) -> str:
    """The cgroup (in every hierarchy) a Docker engine inside `host` puts its containers under."""
    return f"sandbox-{host.name}"


# Sourced by Debian's /etc/init.d/docker before it raises limits: a host cannot raise its
# hard file-descriptor limit (no CAP_SYS_RESOURCE), so `ulimit` failures must not be fatal.
DOCKER_DEFAULTS = """\
# Written by the sandbox (sandbox/hosts.py): dockerd inside a sandbox host.
ulimit() { command ulimit "$@" 2>/dev/null || true; }
"""


def _prepare_docker(upper: Path, host: HostState) -> None:
    """What a Docker engine needs to run inside a host (only used once the deploy installs
    docker.io): the vfs storage driver (no overlayfs over the host's overlayfs root), its
    containers' cgroups under one per-host parent (removed by stop_host), ulimits non-fatal."""
    (upper / "etc/docker").mkdir(parents=True, exist_ok=True)
    (upper / "etc/default").mkdir(parents=True, exist_ok=True)
    daemon = {"storage-driver": "vfs", "cgroup-parent": f"/{cgroup_parent(host)}"}
    (upper / "etc/docker/daemon.json").write_text(json.dumps(daemon, indent=2) + "\n")
    defaults = upper / "etc/default/docker"
    if not defaults.exists():
        defaults.write_text(DOCKER_DEFAULTS)


def remove_cgroups(name: str) -> list[str]:
    """Remove cgroup `name` (and what is below it) from every cgroup v1 hierarchy and the v2
    tree, once its processes are gone. Hierarchies not mounted here are mounted in a private
    mount namespace for the purpose. Returns what could not be removed."""
    hierarchies: dict[str, list[str]] = {}
    try:
        for line in Path("/proc/cgroups").read_text().splitlines()[1:]:
            subsys, hierarchy, _, enabled = line.split()
            if enabled == "1" and hierarchy != "0":
                hierarchies.setdefault(hierarchy, []).append(subsys)
    except OSError:
        return []
    options = [",".join(sorted(subsystems)) for subsystems in hierarchies.values()]
    script = r"""
set -u
name=$1; shift
left=
tmp=$(mktemp -d)
mount -t tmpfs none "$tmp"
mkdir "$tmp/unified" && mount -t cgroup2 none "$tmp/unified" 2>/dev/null
mkdir "$tmp/systemd" && mount -t cgroup -o none,name=systemd none "$tmp/systemd" 2>/dev/null
for options in "$@"; do
    mkdir "$tmp/$options" && mount -t cgroup -o "$options" none "$tmp/$options" 2>/dev/null
done
for top in "$tmp"/*; do
    [ -d "$top/$name" ] || continue
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        find "$top/$name" -depth -type d -exec rmdir {} + 2>/dev/null
        [ -d "$top/$name" ] || break
        sleep 0.3
    done
    [ -d "$top/$name" ] && left="$left ${top#$tmp/}/$name"
done
echo "$left"
"""
    proc = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "cleanup", name, *options],
        capture_output=True,
        text=True,
    )
    return proc.stdout.split()


def ssh_key_path() -> Path:
    key = CACHE_DIR / "ssh" / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        key.parent.chmod(0o700)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "sandbox", "-f", str(key)])
    return key


def ssh_command(host: HostState) -> list[str]:
    return [
        "ssh",
        "-i",
        str(ssh_key_path()),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "BatchMode=yes",
        f"root@{host.ip}",
    ]


def _boot(host: HostState, lower: Path) -> int:
    attach_netns(host.netns, host.ip)
    _prepare_upper(host)
    log = open(host.dir / "console.log", "ab")
    proc = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            host.netns,
            "unshare",
            "--mount",
            "--pid",
            "--uts",
            "--ipc",
            "--fork",
            "--kill-child",
            "--propagation",
            "private",
            str(HERE / "boot.sh"),
            str(lower),
            str(host.dir),
            host.name,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    return proc.pid


def _host_marker(host: HostState) -> str:
    return f"{host.dir} {host.name}"


def is_running(host: HostState) -> bool:
    return _pid_is(host.pid, _host_marker(host))


@locked
def up(
    count: int,
    suite: str = DEFAULT_SUITE,
    first: int = 1,
    timeout: float = 90,
    fresh: bool = False,
    say=None,
) -> list[HostState]:
    """Make sure hosts first..first+count-1 run `suite`; returns them. A host already
    running, or stopped with its overlay kept, is reused as it is (``say`` is told so)
    unless ``fresh``: then it starts from the image alone."""
    if os.geteuid() != 0:
        raise SandboxError("the sandbox needs root (namespaces, mounts, bridge)")
    lower = image_dir(suite)
    state = load_state()
    ensure_bridge()
    ensure_proxy(state)
    ssh_key_path()
    started = []
    for index in range(first, first + count):
        existing = state["hosts"].get(str(index))
        if existing:
            host = HostState(**existing)
            if host.suite != suite:
                raise SandboxError(
                    f"host {index} runs {host.suite}, not {suite}: `down {index}` it first"
                )
            if is_running(host) and fresh:
                started.append(reset(index, timeout))
                continue
            if is_running(host):
                if say:
                    say(
                        f"sandbox: {host.name} is already running and is reused with what earlier "
                        f"runs left on it (`python -m sandbox reset {index}`, or `up --fresh`, "
                        "for a pristine host)"
                    )
                started.append(host)
                continue
        host = HostState(index=index, suite=suite, pid=0, image=lower.name)
        # A stopped host's overlay keeps what earlier runs changed (`down` does not drop it).
        leftover = (host.dir / "upper").exists()
        if leftover and fresh:
            for sub in ("upper", "work"):
                shutil.rmtree(host.dir / sub, ignore_errors=True)
        elif leftover and say:
            say(
                f"sandbox: {host.name} starts with what earlier runs left on it "
                f"(`up --fresh` for a pristine host)"
            )
        host.dir.mkdir(parents=True, exist_ok=True)
        (host.dir / STARTED_BY_FILE).write_text(f"{REPO}\n")
        host.pid = _boot(host, lower)
        state["hosts"][str(index)] = host.__dict__
        save_state(state)
        started.append(host)
    for host in started:
        if not wait_for_port(host.ip, 22, timeout):
            raise SandboxError(f"{host.name} did not start sshd; see {host.dir / 'console.log'}")
        wait_ready(host, timeout)
    return started


def wait_ready(host: HostState, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = subprocess.run(
            [*ssh_command(host), "test -f /run/sandbox-ready && pg_lsclusters -h | grep -q online"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if result.returncode == 0:
            return
        time.sleep(0.3)
    raise SandboxError(f"{host.name} did not become ready; see {host.dir / 'console.log'}")


def stop_host(host: HostState) -> None:
    """Stop a host: SIGTERM its PID 1 (init stops PostgreSQL cleanly), then `unshare`."""
    if is_running(host):
        init = _init_pid(host)
        if init:
            os.kill(init, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and is_running(host):
                time.sleep(0.1)
        # --kill-child: when unshare dies the namespace's PID 1, and so every process in it, dies.
        _kill(host.pid, _host_marker(host))
    left = remove_cgroups(cgroup_parent(host))
    if left:
        print(f"sandbox: {host.name}: cgroups left behind: {' '.join(left)}", file=sys.stderr)
    delete_netns(host.netns)


@locked
def down(indexes: list[int] | None = None) -> None:
    state = load_state()
    for host in hosts_from_state(state):
        if indexes and host.index not in indexes:
            continue
        stop_host(host)
        del state["hosts"][str(host.index)]
        save_state(state)
    if not indexes:
        for client in list(state.get("clients", [])):
            delete_netns(client)
        state["clients"] = []
        _kill(state.get("proxy_pid"), "sandbox-apt-cacher-ng", timeout=5)
        state["proxy_pid"] = None
        save_state(state)
        quiet(["ip", "link", "del", BRIDGE])


@locked
def reset(index: int, timeout: float = 60) -> HostState:
    """Throw away everything host `index` changed: drop its overlay upper dir."""
    state = load_state()
    existing = state["hosts"].get(str(index))
    if not existing:
        raise SandboxError(f"no sandbox host {index}")
    host = HostState(**existing)
    stop_host(host)
    for sub in ("upper", "work"):
        shutil.rmtree(host.dir / sub, ignore_errors=True)
    del state["hosts"][str(index)]
    save_state(state)
    return up(1, host.suite, first=index, timeout=timeout)[0]


@locked
def client(name: str, ip: str) -> str:
    """A bare network namespace on the bridge (no rootfs): a probe at `ip`."""
    if ipaddress.ip_address(ip) not in SUBNET:
        raise SandboxError(f"client address {ip} is outside the sandbox subnet {SUBNET}")
    state = load_state()
    ensure_bridge()
    netns = f"sbxc-{name}"
    attach_netns(netns, ip)
    if netns not in state.setdefault("clients", []):
        state["clients"].append(netns)
        save_state(state)
    return netns


def _init_pid(host: HostState) -> int | None:
    """PID (in our namespace) of the host's PID 1: the child of `unshare`."""
    try:
        children = Path(f"/proc/{host.pid}/task/{host.pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def host_memory_kib(host: HostState) -> int:
    """Proportional set size of every process in the host's PID namespace."""
    init = _init_pid(host)
    if init is None:
        return 0
    pid_ns = os.readlink(f"/proc/{init}/ns/pid")
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.readlink(proc / "ns/pid") != pid_ns:
                continue
            for line in (proc / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def inventory_hosts(indexes: set[int] | None = None) -> list[tuple[str, dict]]:
    """(name, pyinfra data) for the sandbox hosts this checkout started, or for the hosts
    `indexes` names whoever started them."""
    hosts = []
    for host in hosts_from_state(load_state()):
        if indexes is not None and host.index not in indexes:
            continue
        if indexes is None and host.started_by != str(REPO):
            continue
        hosts.append(
            (
                host.name,
                {
                    "ssh_hostname": host.ip,
                    "ssh_user": "root",
                    "ssh_key": str(ssh_key_path()),
                    "ssh_known_hosts_file": "/dev/null",
                    "ssh_strict_host_key_checking": "no",
                    "sandbox_index": host.index,
                    "sandbox_suite": host.suite,
                },
            )
        )
    return hosts


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m sandbox")
