"""Custom models: datasets (COCO, CSV), validation, split, evaluation metrics, training, jobs and prediction.

Modules, each importable alone (no import cycle among them):

* :mod:`~imagelens.customize.records`: the Dataset types and the rules for image paths;
* :mod:`~imagelens.customize.validation`: ``validate_dataset`` (every problem in one report);
* :mod:`~imagelens.customize.splitting`: ``split_dataset`` (stratified, deterministic);
* :mod:`~imagelens.customize.coco`, :mod:`~imagelens.customize.csv_dataset`: COCO (pixel boxes) and Azure COCO
  (normalized boxes) in and out, the classification CSV importer;
* :mod:`~imagelens.customize.dataset`: ``load_dataset`` / ``import_dataset`` for any of those files (and the names
  above, re-exported);
* :mod:`~imagelens.customize.metrics`: detection mAP equal to pycocotools' COCOeval, classification metrics, ECE;
* :mod:`~imagelens.customize.active`: which unlabelled images to label next;
* :mod:`~imagelens.customize.plots`: PNG plots (matplotlib, imported lazily);
* :mod:`~imagelens.customize.train_classifier`: Generic-Classifier, a calibrated probe on frozen image embeddings;
* :mod:`~imagelens.customize.train_detector`: Generic-Detector, fine-tuning an RT-DETR-family detector in a time
  budget (with :mod:`~imagelens.customize.detector_data` and :mod:`~imagelens.customize.detector_model`);
* :mod:`~imagelens.customize.jobs`: background training jobs that survive restarts and can be cancelled (their
  states in :mod:`~imagelens.customize.job_state`, the work inside a job in :mod:`~imagelens.customize.job_worker`);
* :mod:`~imagelens.customize.evaluate`: scoring a stored model on a dataset;
* :mod:`~imagelens.customize.predict`: running a trained model for ``model-name`` / ``--model-name``.

Azure's JSON for all this lives in :mod:`imagelens.azure.customization`, not here.
Nothing is imported here, so ``import imagelens.customize`` stays free of numpy and matplotlib.
"""
