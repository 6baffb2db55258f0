"""The HTTP surface. Azure JSON shapes live in ``imagelens.azure`` (no web framework); routes here map requests to the Analyzer."""
