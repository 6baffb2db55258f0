"""Adapters: one module per architecture family. Each has ``load(path, spec)`` and ``write_tiny(path, seed)``."""
