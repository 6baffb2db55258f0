"""Custom models: datasets (COCO, CSV), validation, split, evaluation metrics, training, jobs and prediction.

Modules, each importable alone:

* :mod:`~imagelens.customize.dataset`: the Dataset types, ``validate_dataset``, ``split_dataset``, the CSV importer;
* :mod:`~imagelens.customize.coco`: COCO (pixel boxes) and Azure COCO (normalized boxes) in and out;
* :mod:`~imagelens.customize.metrics`: detection mAP equal to pycocotools' COCOeval, classification metrics, ECE;
* :mod:`~imagelens.customize.active`: which unlabelled images to label next;
* :mod:`~imagelens.customize.plots`: PNG plots (matplotlib, imported lazily);
* :mod:`~imagelens.customize.train_classifier`: Generic-Classifier, a calibrated probe on frozen image embeddings;
* :mod:`~imagelens.customize.train_detector`: Generic-Detector, fine-tuning the pretrained detector in a time budget;
* :mod:`~imagelens.customize.jobs`: background training jobs that survive restarts and can be cancelled;
* :mod:`~imagelens.customize.predict`: running a trained model for ``model-name`` / ``--model-name``.

Nothing is imported here, so ``import imagelens.customize`` stays free of numpy and matplotlib.
"""
