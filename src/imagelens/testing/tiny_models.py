"""Write a tiny RANDOM-weight model for every catalog model, in the layout the hub loads.

    python -m imagelens.testing.tiny_models DIR [--seed 0] [--only ID ...]
    IMAGELENS_MODEL_DIR=DIR imagelens analyze ...

Their outputs are random and mean nothing: they exist so the whole stack (hub, adapters, features, CLI, server)
runs offline in tests. Models whose real weights ship inside an installed package (the default OCR, inside
rapidocr) are skipped: they work offline already, and a random stand-in would only hide them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

from imagelens.errors import InvalidArgumentError
from imagelens.models.catalog import CATALOG
from imagelens.models.spec import ModelSpec, PackageSource
from imagelens.testing.tiny import ships_in_package, write_tiny


def write_tiny_model(spec: ModelSpec, root: Path, seed: int = 0) -> Path:
    """``root/<id>``: a tiny model for ``spec``. Refuses a model whose weights ship in a package (the hub would
    ignore the folder, and a user who pointed IMAGELENS_MODEL_DIR at it would get random results elsewhere)."""
    if isinstance(spec.source, PackageSource):
        raise InvalidArgumentError(
            f"'{spec.id}' ships its real weights in the installed package '{spec.source.package}': no tiny "
            "random model is written for it (it works offline as it is)."
        )
    return write_tiny(spec, root / spec.id, seed)


def write_tiny_models(root: Path, seed: int = 0, only: Iterable[str] | None = None) -> list[Path]:
    """Tiny models for the catalog (or the ids in ``only``), skipping models that ship in a package."""
    wanted = set(only) if only else None
    specs = [s for s in CATALOG.values() if wanted is None or s.id in wanted]
    if wanted is not None and len(specs) != len(wanted):
        unknown = wanted - {s.id for s in specs}
        raise SystemExit(f"unknown model ids: {', '.join(sorted(unknown))}")
    if wanted is not None:
        shipped = sorted(s.id for s in specs if ships_in_package(s))
        if shipped:
            raise SystemExit(
                f"refusing to write tiny models for {', '.join(shipped)}: their real weights ship in an installed "
                "package and work offline as they are."
            )
    return [write_tiny_model(spec, root, seed) for spec in specs if not ships_in_package(spec)]


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
    skipped = [s.id for s in CATALOG.values() if ships_in_package(s) and (not args.only or s.id in args.only)]
    print(
        f"Wrote {len(paths)} tiny RANDOM-weight models to {args.dir}. Their outputs are random and mean nothing."
        + (f" Skipped (real weights ship in a package): {', '.join(skipped)}." if skipped else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
