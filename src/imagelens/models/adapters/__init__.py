"""Adapters: one module or package per architecture family. Each has ``load(path, spec)`` and ``close()`` and
implements the Protocol of every role its catalog entry declares (:mod:`imagelens.models.roles`). Tiny random test
models are written by :mod:`imagelens.testing.tiny`, not here."""
