"""Queries of the exporter service: `session` first, keyword-only after; never commits."""
