"""Throwaway Debian test hosts in Linux namespaces; see sandbox/hosts.py and `python -m sandbox -h`."""
