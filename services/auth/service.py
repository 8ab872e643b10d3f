"""The rules of the auth service: pure functions, no I/O."""
