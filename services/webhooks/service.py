"""The rules of the webhooks service: pure functions, no I/O."""
