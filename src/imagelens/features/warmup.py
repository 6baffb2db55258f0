"""Warm-up: load the configured models and embed every registered vocabulary once, before any request needs it.

A feature built on prompts over the image-text model (tags today; categories, brands, landmarks, moderation prompt
sets) adds ONE line to :data:`WARMUP_LIST`: its name and a ``"module:function"`` that returns its prompt sets for a
hub. ``imagelens models pull`` / ``imagelens models warm`` run :func:`warm` (the embeddings land in the adapter's
on-disk cache, keyed by the weights, the revision, the templates and the labels), and ``imagelens serve`` runs a
:class:`Warmup` in a background thread at start and reports ready only when it is done
(:mod:`imagelens.api.readiness`). A cached vocabulary is read back in milliseconds (``benchmarks/perf_targets.md``).
"""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from imagelens.errors import ImageLensError
from imagelens.features.zero_shot import VERBATIM
from imagelens.features.zero_shot import PromptSet as ZeroShotSet
from imagelens.models import preparation
from imagelens.models.hub import ModelHub
from imagelens.models.spec import Role

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WarmupSet:
    """Labels x templates embedded by an image-text model (``model_id``; ``None``: the role's configured model): the
    exact texts and templates a feature passes to ``prompt_embeddings``, so the warm-up fills the same cache entry."""

    name: str
    labels: tuple[str, ...]
    templates: tuple[str, ...]
    model_id: str | None = None

    @classmethod
    def of(cls, prompt_set: ZeroShotSet, model_id: str | None = None) -> WarmupSet:
        """What :func:`imagelens.features.zero_shot.label_embeddings` embeds for ``prompt_set``."""
        return cls(prompt_set.name, prompt_set.flat_prompts, VERBATIM, model_id)


WarmupSets = Callable[[ModelHub], Sequence[WarmupSet]]

#: The vocabulary warm-up list: name -> ``"module:function"`` (``function(hub) -> Sequence[WarmupSet]``), imported
#: only when a warm-up runs. One line per feature.
WARMUP_LIST: dict[str, str] = {
    "tags": "imagelens.features.warmup:tag_prompt_sets",
    "categories": "imagelens.features.warmup:category_prompt_sets",
    "moderation": "imagelens.features.warmup:moderation_prompt_sets",
    "landmarks": "imagelens.features.warmup:landmark_prompt_sets",
    "brands": "imagelens.features.warmup:brand_prompt_sets",
}


def register(name: str, provider: str | WarmupSets) -> None:
    """Add (or replace) a vocabulary at run time: a ``"module:function"`` path or the function itself."""
    _EXTRA[name] = provider


_EXTRA: dict[str, str | WarmupSets] = {}


def tag_prompt_sets(hub: ModelHub) -> Sequence[WarmupSet]:
    """The tags feature's vocabulary and templates, as :func:`imagelens.features.tags.build_tag_index` embeds them."""
    from imagelens.features.tags import TaggerConfig
    from imagelens.vocab import load_vocabulary

    model_id = hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING)
    config = TaggerConfig.from_options(hub.spec(model_id).options)
    vocab = load_vocabulary(config.vocabulary)
    return (WarmupSet("tags", tuple(vocab.tags), tuple(config.templates), model_id),)


def _image_text_model(hub: ModelHub) -> str:
    return hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING)


def category_prompt_sets(hub: ModelHub) -> Sequence[WarmupSet]:
    """Azure 3.2's 86 categories (:mod:`imagelens.features.categories`)."""
    from imagelens.features.categories import taxonomy

    return (WarmupSet.of(taxonomy().prompt_set(), _image_text_model(hub)),)


def moderation_prompt_sets(hub: ModelHub) -> Sequence[WarmupSet]:
    """The adult / racy / gory prompt sets (:mod:`imagelens.features.moderation`)."""
    from imagelens.features.moderation import PROMPT_SET

    return (WarmupSet.of(PROMPT_SET, _image_text_model(hub)),)


def landmark_prompt_sets(hub: ModelHub) -> Sequence[WarmupSet]:
    """The configured landmark list (none configured: nothing to warm)."""
    from imagelens.features.landmark_list import load_landmark_list
    from imagelens.features.landmarks import landmark_prompt_sets as sets_of

    if hub.settings.landmarks.file is None:
        return ()
    model_id = _image_text_model(hub)
    unique = {id(s): s for s in sets_of(load_landmark_list(hub.settings))}  # one set when no file entries
    return tuple(WarmupSet.of(s, model_id) for s in unique.values())


def brand_prompt_sets(hub: ModelHub) -> Sequence[WarmupSet]:
    """The configured brand list's prompts for naming logo boxes (none configured: nothing to warm)."""
    from imagelens.features.brand_list import load_brand_list
    from imagelens.features.brand_visual import brand_prompt_set

    if hub.settings.brands.file is None:
        return ()
    return (WarmupSet.of(brand_prompt_set(load_brand_list(hub.settings).names), _image_text_model(hub)),)


def _provider(target: str | WarmupSets) -> WarmupSets:
    if callable(target):
        return target
    module, _, name = target.partition(":")
    found: WarmupSets = getattr(importlib.import_module(module), name)
    return found


def prompt_sets(hub: ModelHub, names: Iterable[str] | None = None) -> list[WarmupSet]:
    """The prompt sets of the warm-up list (or of ``names`` in it)."""
    entries: dict[str, str | WarmupSets] = {**WARMUP_LIST, **_EXTRA}
    wanted = list(names) if names is not None else list(entries)
    out: list[WarmupSet] = []
    for name in wanted:
        if name not in entries:
            raise KeyError(f"no vocabulary named {name!r} in the warm-up list ({', '.join(sorted(entries))})")
        out.extend(_provider(entries[name])(hub))
    return out


@dataclass(slots=True)
class Step:
    """One unit of warm-up: prepare a model (its one-time load work, e.g. an OpenVINO export), load one, or embed
    one prompt set."""

    kind: str  # "prepare" | "model" | "vocabulary"
    name: str
    model_id: str
    state: str = "pending"  # pending | running | done | skipped | failed
    seconds: float | None = None
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "model": self.model_id,
            "state": self.state,
        }
        if self.seconds is not None:
            out["seconds"] = round(self.seconds, 3)
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(slots=True)
class Warmup:
    """Prepare ``prepare`` (:mod:`imagelens.models.preparation`: exports a first load would otherwise do), load
    ``models`` (pinned: never evicted) and embed the prompt sets; thread-safe progress for ``/ready``.

    A step whose model is not on this machine is ``skipped`` (its feature fails on its own, with the
    "imagelens models pull" advice), as is a model with nothing to prepare; any other error marks the step and the
    warm-up ``failed``.
    """

    hub: ModelHub
    models: Sequence[str] = ()
    vocabularies: Sequence[str] | None = None  # None: the whole warm-up list
    prepare: Sequence[str] = ()
    state: str = "idle"  # idle | warming | ready | failed
    steps: list[Step] = field(default_factory=list)
    started: float | None = None
    finished: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None

    @property
    def warming(self) -> bool:
        return self.state == "warming"

    def progress(self) -> dict[str, Any]:
        with self._lock:
            done = sum(s.state in ("done", "skipped") for s in self.steps)
            elapsed = None
            if self.started is not None:
                elapsed = round((self.finished or time.monotonic()) - self.started, 3)
            return {
                "state": self.state,
                "done": done,
                "total": len(self.steps),
                "seconds": elapsed,
                "steps": [s.as_dict() for s in self.steps],
            }

    def _plan(self) -> list[Step]:
        steps = [Step("prepare", model_id, model_id) for model_id in dict.fromkeys(self.prepare)]
        steps += [Step("model", model_id, model_id) for model_id in dict.fromkeys(self.models)]
        for ps in prompt_sets(self.hub, self.vocabularies):
            model_id = ps.model_id or self.hub.model_for_role(Role.IMAGE_TEXT_EMBEDDING)
            steps.append(Step("vocabulary", ps.name, model_id))
        return steps

    def run(self, on_step: Callable[[Step], None] | None = None) -> Warmup:
        """Run every step in this thread; returns self (``state`` is ``ready`` or ``failed``)."""
        with self._lock:
            self.state, self.started = "warming", time.monotonic()
        try:
            sets = {ps.name: ps for ps in prompt_sets(self.hub, self.vocabularies)}
            steps = self._plan()
        except Exception as exc:  # a broken provider must not leave the server warming forever
            log.exception("warm-up could not be planned")
            with self._lock:
                self.steps = [Step("vocabulary", "plan", "", "failed", detail=f"{type(exc).__name__}: {exc}")]
                self.state, self.finished = "failed", time.monotonic()
            return self
        with self._lock:
            self.steps = steps
        failed = False
        for step in steps:
            self._run_step(step, sets)
            failed = failed or step.state == "failed"
            if on_step is not None:
                on_step(step)
        with self._lock:
            self.state, self.finished = ("failed" if failed else "ready"), time.monotonic()
        return self

    def _run_step(self, step: Step, sets: Mapping[str, WarmupSet]) -> None:
        with self._lock:
            step.state = "running"
        t0 = time.perf_counter()
        state, detail = "done", ""
        try:
            if step.kind == "model":
                self.hub.get(step.model_id, pin=True)
            elif not self.hub.is_present(step.model_id):  # never a surprise download at start
                state, detail = "skipped", f"model {step.model_id} is not on this machine"
            elif step.kind == "prepare":
                done = preparation.prepare(self.hub, step.model_id)
                state, detail = ("done", done) if done else ("skipped", "nothing to prepare here")
            else:
                ps = sets[step.name]
                array = self.hub.embedder(step.model_id).prompt_embeddings(ps.labels, ps.templates)
                detail = f"{array.shape[0]} labels x {len(ps.templates)} templates"
        except ImageLensError as exc:
            state, detail = "failed", exc.message
        except Exception as exc:
            log.exception("warm-up step %s %s failed", step.kind, step.name)
            state, detail = "failed", f"{type(exc).__name__}: {exc}"
        with self._lock:
            step.state, step.detail, step.seconds = state, detail, time.perf_counter() - t0
        log.info("warm-up: %s %s %s in %.2f s %s", step.kind, step.name, state, step.seconds, detail)

    def start(self) -> threading.Thread:
        """Run in a daemon thread (model loading never blocks the caller's event loop)."""
        with self._lock:
            self.state = "warming"  # readiness is "not ready" from now on, before the thread gets the CPU
        thread = threading.Thread(target=self.run, name="imagelens-warmup", daemon=True)
        self._thread = thread
        thread.start()
        return thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


def warm(
    hub: ModelHub,
    models: Sequence[str] = (),
    vocabularies: Sequence[str] | None = None,
    on_step: Callable[[Step], None] | None = None,
    prepare: Sequence[str] = (),
) -> Warmup:
    """Prepare ``prepare``, load ``models`` and embed the vocabularies now (``imagelens models pull`` / ``warm``)."""
    return Warmup(hub, models, vocabularies, prepare=prepare).run(on_step)
