"""Custom pyinfra facts/operations and pure logic for the Hatchet + OwlClaw deploy."""
