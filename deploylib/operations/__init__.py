"""Custom pyinfra operations: yield commands only when the state differs (host code; the package may
import pyinfra's public API, facts, the model, announce, notices and pyinfra_compat)."""
