"""Batch work over a folder, a glob or a list of URLs: ``analyze``, ``index-add`` and ``remove-bg``, on a local
process pool or on Ray, streaming rows to JSONL or Parquet, resumable (``imagelens batch``, docs/batch.md).

- :mod:`~imagelens.batch.tasks`: the task and the per-process/per-actor worker (models loaded once);
- :mod:`~imagelens.batch.sources`: SOURCE into items; :mod:`~imagelens.batch.output`: crash-safe outputs;
- :mod:`~imagelens.batch.runner`: one run, any engine; :mod:`~imagelens.batch.local` and
  :mod:`~imagelens.batch.ray_engine`: the engines (Ray is imported only when used).

Nothing heavy is imported here.
"""
