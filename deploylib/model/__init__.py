"""The deploy's pure model: what the host should hold, derived from validated settings.

Imports nothing of pyinfra or pyinfra_cli and asks no host anything (tests/unit/test_layers.py):
parsing and rendering pg_hba.conf, postgresql.conf and marked blocks, SCRAM verifiers, SQL, the
compose model, firewall plans, shell command lines, and the configuration schema and validation.
Host code (deploylib.facts, deploylib.operations, tasks/) imports from here, never the reverse.
"""
