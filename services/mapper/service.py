"""The rules of the mapper service: pure functions, no I/O."""
