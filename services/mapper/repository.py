"""Queries of the mapper service: `session` first, keyword-only after; never commits."""
