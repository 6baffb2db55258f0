"""The HTTP surface. ``imagelens.api.azure.wire`` (pure JSON mapping) imports no web framework."""
