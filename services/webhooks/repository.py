"""Queries of the webhooks service: `session` first, keyword-only after; never commits."""
