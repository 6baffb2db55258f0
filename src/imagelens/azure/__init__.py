"""Azure AI Vision's names and JSON shapes, in one place, with no web framework.

The HTTP routes (``imagelens.api``) and the CLI's ``--json`` both build their bodies from here, so the library core
(``features/``, ``shelf/``, ``customize/``, ``store/``) never speaks Azure JSON itself.
"""
