"""A batch SOURCE into items: a folder (recursive), a glob, one image file or URL, or a text file listing one
path or http(s) URL per line (``.txt``, ``.lst``, ``.urls``; blank lines and ``#`` comments skipped, relative paths
taken from the list's folder)."""

from __future__ import annotations

from pathlib import Path

from imagelens.errors import InvalidArgumentError

LIST_SUFFIXES = (".txt", ".lst", ".list", ".urls")


def _from_list(path: Path) -> list[str]:
    out: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("http://", "https://")):
            out.append(line)
        else:
            item = Path(line).expanduser()
            out.append(str((item if item.is_absolute() else path.parent / item).resolve()))
    return out


def expand_source(source: str | Path) -> list[str]:
    """The items of one SOURCE, de-duplicated, in a stable order (files sorted; a list keeps its order)."""
    from imagelens.retrieval.ingest import expand

    text = str(source)
    path = Path(text).expanduser()
    if (
        not text.startswith(("http://", "https://"))
        and path.is_file()
        and path.suffix.lower() in LIST_SUFFIXES
    ):
        items = list(dict.fromkeys(_from_list(path)))
    else:
        items = expand([text])
    if not items:
        raise InvalidArgumentError(f"Nothing to process in {text!r}.")
    return items
