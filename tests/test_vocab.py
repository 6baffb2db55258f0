"""Tag vocabularies: the shipped RAM list, files, disabled tags, languages."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from imagelens.errors import ImageLensError, InvalidArgumentError, NotSupportedLanguageError
from imagelens.vocab import (
    DISABLED_THRESHOLD,
    TagVocabulary,
    VocabularyError,
    load_vocabulary,
    normalize_language,
    parse_csv,
    vocabulary_from_tags,
)

from .conftest import shared_data

# The tags RAM switches off with a threshold of 1.0 / 0.99 (listed in ../shared/data/vocab/ram_tags/SOURCE.md).
RAM_DISABLED = {
    "body",
    "cocktail table",
    "French",
    "group",
    "lie",
    "show",
    "see",
    "set",
    "stop",
    "use",
    "singe",
}


def test_shipped_ram_list_has_all_tags_and_its_eleven_disabled_ones() -> None:
    full = load_vocabulary("ram", drop_disabled=False)
    assert len(full) == 4585
    assert set(full.disabled_tags) == RAM_DISABLED
    enabled = load_vocabulary("ram")
    assert len(enabled) == 4585 - len(RAM_DISABLED)
    assert not RAM_DISABLED & set(enabled.tags)
    assert not any(enabled.disabled)


def test_ram_chinese_names_follow_the_english_order() -> None:
    vocab = load_vocabulary("ram")
    assert vocab.languages == ("en", "zh")
    zh = vocab.names_for("zh")
    en = vocab.names_for("en")
    assert en == vocab.tags
    assert len(zh) == len(en)
    lookup = dict(zip(en, zh, strict=True))
    assert lookup["abacus"] == "算盘"
    # stripped of the trailing whitespace in the upstream file
    assert lookup["3D CG rendering"] == "三维CG渲染"
    assert all(name == name.strip() and name for name in zh)


@pytest.mark.parametrize("code", ["zh", "ZH", "zh-Hans", "zh_CN", "zh-cn"])
def test_simplified_chinese_codes_map_to_zh(code: str) -> None:
    assert normalize_language(code) == "zh"
    assert load_vocabulary().names_for(code) == load_vocabulary().names["zh"]


@pytest.mark.parametrize("code", ["fr", "zh-Hant", "ja", "xx"])
def test_languages_the_vocabulary_lacks_are_refused(code: str) -> None:
    with pytest.raises(NotSupportedLanguageError, match=f"'{code}'.*supports: en, zh"):
        load_vocabulary().names_for(code)


@pytest.mark.realdata
def test_shipped_list_matches_the_shared_upstream_files() -> None:
    folder = shared_data("vocab", "ram_tags")
    tags = (folder / "ram_tag_list.txt").read_text(encoding="utf-8").split("\n")
    zh = [
        line.strip()
        for line in (folder / "ram_tag_list_chinese.txt").read_text(encoding="utf-8").splitlines()
    ]
    thresholds = [float(x) for x in (folder / "ram_tag_list_threshold.txt").read_text().split()]
    full = load_vocabulary("ram", drop_disabled=False)
    assert list(full.tags) == tags
    assert list(full.names["zh"]) == zh
    assert [t >= DISABLED_THRESHOLD for t in thresholds] == list(full.disabled)


def test_csv_file_with_languages_and_disabled_column(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["tag", "tag_de", "disabled"])
        writer.writerows([["dog", "Hund", "0"], ["cat", "", ""], ["thing", "Ding", "true"]])
    full = load_vocabulary(path, drop_disabled=False)
    assert full.name == "mine"
    assert full.tags == ("dog", "cat", "thing")
    assert full.names_for("de") == ("Hund", "cat", "Ding")  # a missing name falls back to English
    assert full.disabled_tags == ("thing",)
    vocab = load_vocabulary(str(path))
    assert vocab.tags == ("dog", "cat")
    assert vocab.names_for("de") == ("Hund", "cat")


def test_text_file_one_tag_per_line(tmp_path: Path) -> None:
    path = tmp_path / "tags.txt"
    path.write_text("dog\n\n  cat  \nsky", encoding="utf-8")
    vocab = load_vocabulary(path)
    assert vocab.tags == ("dog", "cat", "sky")
    assert vocab.languages == ("en",)


def test_bad_vocabularies_raise_imagelens_errors(tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match="not found"):
        load_vocabulary(tmp_path / "missing.csv")
    (tmp_path / "nocol.csv").write_text("name\ndog\n", encoding="utf-8")
    with pytest.raises(VocabularyError, match="'tag' column"):
        load_vocabulary(tmp_path / "nocol.csv")
    with pytest.raises(VocabularyError, match="twice"):
        vocabulary_from_tags(["Dog", "dog"])
    with pytest.raises(VocabularyError, match="2 names for language 'de', expected 3"):
        TagVocabulary("v", ("a", "b", "c"), names={"de": ("x", "y")})
    with pytest.raises(VocabularyError, match="ram_threshold on line 2"):
        parse_csv("tag,ram_threshold\ndog,high\n", "v")
    with pytest.raises(InvalidArgumentError):
        load_vocabulary("")
    assert issubclass(VocabularyError, ImageLensError)


def test_fingerprint_depends_on_the_scored_texts_only() -> None:
    a = TagVocabulary("a", ("dog", "cat"), names={"zh": ("狗", "猫")})
    b = TagVocabulary("b", ("dog", "cat"))
    c = TagVocabulary("a", ("cat", "dog"))
    assert a.fingerprint == b.fingerprint
    assert a.fingerprint != c.fingerprint
