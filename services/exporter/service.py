"""The rules of the exporter service: pure functions, no I/O."""
