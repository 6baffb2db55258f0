"""Azure AI Vision's names and JSON shapes, in one place."""
