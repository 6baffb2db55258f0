"""Video: index videos, find the moment by text or image, summarise scenes.

- :mod:`~imagelens.video.settings`: sampling and limits (``IMAGELENS_VIDEO_*``);
- :mod:`~imagelens.video.decode`: streaming decode with PyAV, time-based + shot-cut sampling, clear errors;
- :mod:`~imagelens.video.shots`: the cheap shot-boundary detector (histogram + pixel difference) and its metrics;
- :mod:`~imagelens.video.segments`: consecutive similar sampled frames -> segments (start, end, best, vector);
- :mod:`~imagelens.video.store`: a video index (segments in a retrieval index + a SQLite table of videos);
- :mod:`~imagelens.video.ingest` / :mod:`~imagelens.video.query`: videos in, time ranges out;
- :mod:`~imagelens.video.jobs`: Azure-style ingestions as background jobs that survive a restart;
- :mod:`~imagelens.video.summary`: a timeline PNG of key frames (with captions when a captioner is present).

PyAV (``pip install 'imagelens[video]'``) is imported only inside the functions that decode.
"""
