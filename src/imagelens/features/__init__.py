"""Analysis features: one module each, named by their Azure ``features=`` token."""
