"""Retail shelves, the geometry half: stitch, rectify, gaps and planogram matching.

Everything here is pure geometry (OpenCV, numpy, scipy); product *detection* lives with the detector models.
The modules are imported on demand so that ``import imagelens`` stays light:

- :mod:`imagelens.shelf.stitch`: overlapping photos, in left-to-right then top-to-bottom order, into one image.
- :mod:`imagelens.shelf.rectify`: undo perspective from four control points, or from the dominant quadrilateral.
- :mod:`imagelens.shelf.gaps`: empty shelf space between product boxes.
- :mod:`imagelens.shelf.planogram`: planogram parsing, optimal matching to detected products, Azure's JSON shape.
- :mod:`imagelens.shelf.annotate`: the picture a person wants (matched green, misplaced red, gap grey).
"""
