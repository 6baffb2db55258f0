"""Custom models: datasets (COCO, CSV), validation, split, and evaluation metrics.

Modules, each importable alone:

* :mod:`~imagelens.customize.dataset`: the Dataset types, ``validate_dataset``, ``split_dataset``, the CSV importer;
* :mod:`~imagelens.customize.coco`: COCO (pixel boxes) and Azure COCO (normalized boxes) in and out;
* :mod:`~imagelens.customize.metrics`: detection mAP equal to pycocotools' COCOeval, classification metrics, ECE;
* :mod:`~imagelens.customize.active`: which unlabelled images to label next;
* :mod:`~imagelens.customize.plots`: PNG plots (matplotlib, imported lazily).

Nothing is imported here, so ``import imagelens.customize`` stays free of numpy and matplotlib.
"""
