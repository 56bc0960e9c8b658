"""Tests written to kill the mutants mutmut found alive (./run mutate; triage in tests/MUTATION.md)."""
