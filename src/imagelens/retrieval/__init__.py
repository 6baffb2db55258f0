"""Image retrieval: vectorize images and texts into one space, keep them in an index, search it.

- :mod:`~imagelens.retrieval.vectorize`: the checks and relevance mapping every surface shares;
- :mod:`~imagelens.retrieval.base`: documents, filters, hits and the :class:`RetrievalIndex` Protocol;
- :mod:`~imagelens.retrieval.embedded`: the default index (SQLite + HNSW), crash-safe;
- :mod:`~imagelens.retrieval.ann`: the vector indexes (hnswlib HNSW, numpy exact);
- :mod:`~imagelens.retrieval.ingest`: folders into an index; :mod:`~imagelens.retrieval.search`: queries.

Nothing heavy is imported here.
"""
