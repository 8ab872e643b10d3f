"""Queries of the auth service: `session` first, keyword-only after; never commits."""
