"""python -m sandbox {build,up,down,reset,ssh,status,client,mem}"""

from __future__ import annotations

import argparse
import os
import sys
import time

from . import hosts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox", description=hosts.__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("build", help="build (or reuse) the cached root filesystem of a suite")
    p.add_argument("--suite", default=hosts.DEFAULT_SUITE, choices=hosts.SUITES)

    p = sub.add_parser("up", help="start N hosts (idempotent)")
    p.add_argument("count", type=int)
    p.add_argument("--suite", default=hosts.DEFAULT_SUITE, choices=hosts.SUITES)
    p.add_argument("--first", type=int, default=1, help="index of the first host (default 1)")
    p.add_argument("--fresh", action="store_true",
                   help="start from the image alone (drop what earlier runs changed)")

    p = sub.add_parser("down", help="stop hosts (all, and the apt proxy, by default)")
    p.add_argument("index", type=int, nargs="*")

    p = sub.add_parser("reset", help="stop host I, drop its overlay, start it fresh")
    p.add_argument("index", type=int)

    p = sub.add_parser("ssh", help="ssh into host I (or run a command there)")
    p.add_argument("index", type=int)
    p.add_argument("remote", nargs=argparse.REMAINDER)

    sub.add_parser("status", help="list hosts")

    p = sub.add_parser("client", help="create a probe namespace NAME at IP")
    p.add_argument("name")
    p.add_argument("ip")

    sub.add_parser("mem", help="memory (PSS) per running host")

    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            started = time.monotonic()
            print(hosts.image_dir(args.suite))
            print(f"ready in {time.monotonic() - started:.1f}s")
        elif args.command == "up":
            started = time.monotonic()
            say = lambda line: print(line, file=sys.stderr)  # noqa: E731
            for host in hosts.up(args.count, args.suite, args.first, fresh=args.fresh, say=say):
                print(f"{host.name}\t{host.ip}\t{host.suite}")
            print(f"up in {time.monotonic() - started:.1f}s")
        elif args.command == "down":
            hosts.down(args.index or None)
        elif args.command == "reset":
            started = time.monotonic()
            host = hosts.reset(args.index)
            print(f"{host.name}\t{host.ip}\t{host.suite}\treset in {time.monotonic() - started:.1f}s")
        elif args.command == "ssh":
            state = hosts.load_state()
            if str(args.index) not in state["hosts"]:
                raise hosts.SandboxError(f"no sandbox host {args.index}")
            host = hosts.HostState(**state["hosts"][str(args.index)])
            cmd = hosts.ssh_command(host)
            if args.remote:
                cmd[-1:-1] = []
                cmd.append(" ".join(args.remote))
            else:
                cmd.insert(1, "-t")
            os.execvp(cmd[0], cmd)
        elif args.command == "status":
            for host in hosts.hosts_from_state(hosts.load_state()):
                status = "running" if hosts.is_running(host) else "stopped"
                owner = host.started_by or "?"
                print(f"{host.name}\t{host.ip}\t{host.suite}\t{status}\tstarted by {owner}")
        elif args.command == "client":
            print(hosts.client(args.name, args.ip))
        elif args.command == "mem":
            for host in hosts.hosts_from_state(hosts.load_state()):
                print(f"{host.name}\t{hosts.host_memory_kib(host) / 1024:.1f} MiB")
    except hosts.SandboxError as error:
        print(f"sandbox: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
