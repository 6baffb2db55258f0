"""Retail shelves: stitch, rectify, products and gaps, planogram compliance.

Pure types and geometry (OpenCV, numpy, scipy); product *detection* is the open-vocabulary detector's job
(:class:`imagelens.models.roles.OpenVocabDetector`), reached through
:meth:`imagelens.analyzer.Analyzer.recognize_products`. Azure's JSON shapes live in :mod:`imagelens.azure.shelf`,
pictures in :mod:`imagelens.annotate`. The modules are imported on demand so that ``import imagelens`` stays light:

- :mod:`imagelens.shelf.stitch`: overlapping photos, in left-to-right then top-to-bottom order, into one image
  (pairwise matching in :mod:`~imagelens.shelf.stitch_matching`, placement and blending in
  :mod:`~imagelens.shelf.stitch_placement`).
- :mod:`imagelens.shelf.rectify`: undo perspective from four control points, or from the dominant quadrilateral
  (found, or refused when there is none, by :mod:`~imagelens.shelf.quad`).
- :mod:`imagelens.shelf.gaps`: empty shelf space between product boxes.
- :mod:`imagelens.shelf.products`: detector boxes to products and gaps.
- :mod:`imagelens.shelf.planogram`: the planogram (products, fixtures, positions).
- :mod:`imagelens.shelf.compliance`: optimal matching of detections to planogram positions.
"""
