"""OCR post-processing that does not depend on a particular model runtime.

The recogniser (a CTC model) gives, for each text line, a matrix of per-frame class probabilities. The modules here
turn that matrix into words with positions and confidences:

- :mod:`~imagelens.ocr.ctc`: greedy CTC decoding that keeps each character's frames and can forbid classes;
- :mod:`~imagelens.ocr.charsets`: which script a page is in, and the classes to forbid for it;
- :mod:`~imagelens.ocr.words`: splitting a decoded line into words, on spaces and on wide gaps;
- :mod:`~imagelens.ocr.fixes`: letter/digit confusions fixed from the model's own second choices;
- :mod:`~imagelens.ocr.layout`: reading order and the geometry that maps frames back to image pixels.

Only numpy is imported at module level, so these helpers are cheap to import and to unit-test.
"""
