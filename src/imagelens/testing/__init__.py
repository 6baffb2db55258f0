"""Helpers for tests and for trying imagelens without real weights."""
