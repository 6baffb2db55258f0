"""Write a tiny RANDOM-weight model for every catalog model, in the layout the hub loads.

    python -m imagelens.testing.tiny_models DIR [--seed 0] [--only ID ...]
    IMAGELENS_MODEL_DIR=DIR imagelens analyze ...

Their outputs are random and mean nothing: they exist so the whole stack (hub, adapters, features, CLI, server)
runs offline in tests.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from imagelens.models.catalog import CATALOG
from imagelens.models.hub import import_adapter
from imagelens.models.spec import ModelSpec
from imagelens.testing.tiny_tflite import TINY_WRITERS


def write_tiny_model(spec: ModelSpec, root: Path, seed: int = 0) -> Path:
    target = root / spec.id
    target.mkdir(parents=True, exist_ok=True)
    if spec.adapter in TINY_WRITERS:  # writers that live here, in testing/, not in the adapter
        TINY_WRITERS[spec.adapter](target, spec, seed)
    else:
        import_adapter(spec).write_tiny(target, spec, seed)
    return target


def write_tiny_models(root: Path, seed: int = 0, only: Iterable[str] | None = None) -> list[Path]:
    wanted = set(only) if only else None
    specs = [s for s in CATALOG.values() if wanted is None or s.id in wanted]
    if wanted is not None and len(specs) != len(wanted):
        unknown = wanted - {s.id for s in specs}
        raise SystemExit(f"unknown model ids: {', '.join(sorted(unknown))}")
    return [write_tiny_model(spec, root, seed) for spec in specs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m imagelens.testing.tiny_models", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args(argv)
    paths = write_tiny_models(args.dir, args.seed, args.only)
    for path in paths:
        print(path)
    print(
        f"Wrote {len(paths)} tiny RANDOM-weight models to {args.dir}. Their outputs are random and mean nothing.",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
