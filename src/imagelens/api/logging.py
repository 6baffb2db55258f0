"""One access line per request, JSON (the default) or plain text: ``IMAGELENS_SERVER__LOG_FORMAT=json|text``.

A JSON line carries ``apim-request-id``, ``method``, ``route`` (the route template), ``path``, ``features``,
``status``, ``code`` (Azure's inner error code, for errors), ``ms`` and ``client``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

access_log = logging.getLogger("imagelens.access")


def log_request(fields: dict[str, Any], fmt: str) -> None:
    if not access_log.isEnabledFor(logging.INFO):
        return
    if fmt == "text":
        access_log.info(" ".join(f"{k}={'-' if v in (None, '') else v}" for k, v in fields.items()))
    else:
        access_log.info(json.dumps(fields, separators=(",", ":")))
