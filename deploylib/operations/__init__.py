"""Custom pyinfra operations: yield commands only when the state differs."""
