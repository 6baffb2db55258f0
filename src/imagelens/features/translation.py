"""Results in other languages through an offline translation model (Role.TRANSLATOR, one per target language).

* Tag names: a vocabulary's English names are translated **once per language** and cached on disk (JSON beside the
  translator, keyed by the translator's weights fingerprint and the vocabulary's fingerprint) and in memory, so a
  restart reads them back instead of translating thousands of tags again. A language the vocabulary itself carries
  (RAM's Chinese names) is used as it is, untranslated.
* Captions: translated per request (the English caption is the model's output; the translation is a rendering of it).

A language with no translator in the catalog, or whose translator is not present, is refused with
:class:`NotSupportedLanguageError` before any model work; the message names ``imagelens models pull <id>``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from imagelens.errors import NotSupportedLanguageError
from imagelens.models.catalog import translator_id
from imagelens.models.hub import ModelHub
from imagelens.models.roles import Translator
from imagelens.models.spec import Role
from imagelens.vocab import TagVocabulary, normalize_language

log = logging.getLogger(__name__)

_MEMORY: dict[tuple[str, str, str], tuple[str, ...]] = {}
_LOCK = threading.Lock()


def translation_languages(hub: ModelHub) -> tuple[str, ...]:
    """Target languages of the catalog's English translators (present or not), sorted."""
    return tuple(
        sorted(
            str(s.options.get("target"))
            for s in hub.specs()
            if Role.TRANSLATOR in s.roles and s.options.get("source", "en") == "en"
        )
    )


def check_translator(
    hub: ModelHub, language: str, feature: str, native: Sequence[str] = ("en",)
) -> str | None:
    """The translator id ``feature`` needs for ``language`` (``None`` when ``language`` is one of ``native``).

    Raises NotSupportedLanguageError when no translator exists for it or when it is not present (naming the pull
    command). Loads nothing."""
    lang = normalize_language(language)
    if lang in native:
        return None
    model_id = translator_id(lang)
    if lang not in translation_languages(hub) or model_id not in {s.id for s in hub.specs()}:
        supported = sorted({*native, *translation_languages(hub)})
        raise NotSupportedLanguageError(
            f"The feature '{feature}' is not available in language '{language}'. "
            f"Supported languages: {', '.join(supported)}."
        )
    if not hub.is_present(model_id):
        raise NotSupportedLanguageError(
            f"The feature '{feature}' in language '{language}' needs the translation model '{model_id}', which is "
            f"not present. Fetch it with: imagelens models pull {model_id}"
        )
    return model_id


def translator(hub: ModelHub, language: str, feature: str) -> Translator:
    """The loaded English -> ``language`` translator (after :func:`check_translator`'s checks)."""
    model_id = check_translator(hub, language, feature, native=())
    assert model_id is not None
    return hub.translator(model_id)


def preload_translator(hub: ModelHub, language: str, feature: str, native: Sequence[str] = ("en",)) -> None:
    """Load the translator ``language`` needs (nothing for ``native``): the Analyzer loads models before running
    features, since a load may not overlap inference (:mod:`imagelens.models.load_guard`)."""
    model_id = check_translator(hub, language, feature, native)
    if model_id is not None:
        hub.translator(model_id)


def translate_texts(hub: ModelHub, texts: Sequence[str], language: str, feature: str) -> list[str]:
    """``texts`` (English) in ``language``; unchanged for English."""
    if check_translator(hub, language, feature) is None:
        return list(texts)
    return translator(hub, language, feature).translate(texts)


def _cache_file(model: Translator, vocab: TagVocabulary) -> Path | None:
    if model.cache_dir is None:
        return None
    return model.cache_dir / f"tags-{model.target}-{model.fingerprint[:16]}-{vocab.fingerprint[:16]}.json"


def _read(file: Path | None, count: int) -> tuple[str, ...] | None:
    if file is None or not file.is_file():
        return None
    try:
        names = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable translation cache %s: %s", file, exc)
        return None
    if not isinstance(names, list) or len(names) != count or not all(isinstance(n, str) for n in names):
        log.warning("ignoring translation cache %s: expected %d names", file, count)
        return None
    return tuple(names)


def _write(file: Path | None, names: Sequence[str]) -> None:
    if file is None:
        return
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(list(names), fh, ensure_ascii=False)
        os.replace(tmp, file)
    except OSError as exc:  # a read-only cache only costs a re-translation next start
        log.warning("could not write translation cache %s: %s", file, exc)


def tag_names(hub: ModelHub, vocab: TagVocabulary, language: str) -> tuple[str, ...]:
    """Display names of ``vocab``'s tags in ``language``: the vocabulary's own names when it has them, else its
    English names translated (once per translator weights and vocabulary; cached in memory and on disk). An empty
    translation falls back to the English name."""
    lang = normalize_language(language)
    if lang in vocab.names:
        return vocab.names[lang]
    model = translator(hub, language, "tags")
    key = (model.fingerprint, vocab.fingerprint, lang)
    with _LOCK:
        cached = _MEMORY.get(key)
        if cached is not None:
            return cached
        file = _cache_file(model, vocab)
        names = _read(file, len(vocab))
        if names is None:
            translated = model.translate(vocab.tags)
            names = tuple(t or tag for t, tag in zip(translated, vocab.tags, strict=True))
            _write(file, names)
        _MEMORY[key] = names
        return names


def clear_memory_cache() -> None:
    """Forget in-memory tag translations (the disk cache stays): for tests and after swapping weights."""
    with _LOCK:
        _MEMORY.clear()
