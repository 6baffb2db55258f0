"""``imagelens stitch``, ``imagelens rectify`` and ``imagelens planogram``: the shelf geometry on the command line.

Images come in through :func:`imagelens.io.load_image` (limits, EXIF rotation, RGB) and go out through
:func:`imagelens.io.encode_image`, in the format the output file's extension names. JSON in and out is Azure's, from
:mod:`imagelens.azure.shelf`.

``rectify`` without ``--corners`` finds the shelf itself; when it finds no quadrilateral with clear edges it writes
nothing and exits 2 (bad input) with a message giving the best candidate's corners in ``--corners`` form; with
``--min-support 0`` it rectifies that candidate anyway and warns on stderr.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer

from imagelens.cli._common import cli_errors, print_json

_FORMATS = {
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
    ".webp": "webp",
    ".bmp": "bmp",
    ".tif": "tiff",
    ".tiff": "tiff",
}


def _load_rgb(source: str) -> Any:
    from imagelens.io import load_image

    return load_image(source).array()


def _write_image(path: Path, array: Any) -> None:
    from imagelens.errors import InvalidArgumentError
    from imagelens.io import encode_image

    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidArgumentError(
            f"output file {str(path)!r} must end in one of {', '.join(sorted(_FORMATS))}, got {path.suffix!r}"
        )
    path.write_bytes(encode_image(array, fmt, quality=95))


def _read_json(path: Path, what: str) -> Any:
    from imagelens.errors import InvalidArgumentError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidArgumentError(f"{what} file not found: {str(path)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArgumentError(f"{what} file {str(path)!r} is not readable JSON: {exc}") from None


def stitch_command(
    images: Annotated[
        list[str], typer.Argument(help="2-20 overlapping images, left to right then top to bottom")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="the stitched image (.png, .jpg ...)")],
    method: Annotated[
        str, typer.Option(help="features (pairwise SIFT + RANSAC) or opencv (cv2.Stitcher SCANS)")
    ] = "features",
    model: Annotated[str, typer.Option(help="affine, similarity or homography")] = "affine",
    require_all: Annotated[
        bool, typer.Option("--require-all", help="fail instead of dropping images that match nothing")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="print what was used and the per-pair statistics as JSON")
    ] = False,
) -> None:
    """Stitch overlapping shelf photos into one image; prints which inputs were used."""
    with cli_errors():
        from imagelens.shelf.stitch import stitch

        arrays = [_load_rgb(source) for source in images]
        result = stitch(arrays, method=method, model=model, require_all=require_all)  # type: ignore[arg-type]
        _write_image(output, result.image)
        summary = {
            "output": str(output),
            "width": result.width,
            "height": result.height,
            "used": [images[k] for k in result.used],
            "usedIndices": list(result.used),
            "droppedIndices": list(result.dropped),
            "pairs": [
                {
                    "source": p.source,
                    "target": p.target,
                    "matches": p.matches,
                    "inliers": p.inliers,
                    "reprojectionErrorPx": (
                        None if math.isnan(p.reprojection_error_px) else round(p.reprojection_error_px, 3)
                    ),
                    "accepted": p.accepted,
                    **({"reason": p.reason} if p.reason else {}),
                }
                for p in result.pairs
            ],
        }
        if as_json:
            print_json(summary)
        else:
            typer.echo(
                f"stitched {len(result.used)}/{len(images)} images -> {output} ({result.width}x{result.height})"
            )
            for k in result.dropped:
                typer.echo(f"  dropped {images[k]}: it matches none of the other images", err=True)


def rectify_command(
    image: Annotated[str, typer.Argument(help="the image (file or http(s) URL)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="the rectified image (.png, .jpg ...)")],
    corners: Annotated[
        str | None,
        typer.Option(
            help="TLx,TLy,TRx,TRy,BRx,BRy,BLx,BLy normalized to [0, 1]; found automatically when left out"
        ),
    ] = None,
    min_support: Annotated[
        float,
        typer.Option(
            help="automatic corners: the share of the outline that must be a clear edge (0 accepts any "
            "candidate, with a warning)"
        ),
    ] = 0.6,  # imagelens.shelf.rectify.MIN_SUPPORT
    as_json: Annotated[
        bool, typer.Option("--json", help="print the control points used, as Azure's controlPoints")
    ] = False,
) -> None:
    """Undo perspective: warp four corners (given or detected) to an upright rectangle.

    Without --corners, exits 2 and writes nothing when no shelf (a quadrilateral with clear edges) is found."""
    with cli_errors():
        from imagelens.azure.shelf import control_points_json
        from imagelens.shelf.rectify import ControlPoints, rectify

        array = _load_rgb(image)
        points = ControlPoints.parse(corners) if corners is not None else None
        result = rectify(array, points, min_support=min_support)
        if result.weak and result.support is not None:
            found = ",".join(f"{v:.4f}" for p in result.control_points.corners() for v in p)
            typer.echo(
                "warning: no clear shelf edge: the detected quadrilateral has a clear edge along only "
                f"{sum(result.support) / 4:.0%} of its outline; rectified it anyway (--min-support "
                f"{min_support:g}) with corners {found}",
                err=True,
            )
        _write_image(output, result.image)
        if as_json:
            print_json(
                {
                    "output": str(output),
                    "width": int(result.image.shape[1]),
                    "height": int(result.image.shape[0]),
                    "detected": result.detected,
                    "controlPoints": control_points_json(result.control_points),
                    **({"edgeSupport": [round(v, 3) for v in result.support]} if result.support else {}),
                }
            )
        else:
            how = "detected" if result.detected else "given"
            typer.echo(
                f"rectified ({how} corners) -> {output} ({result.image.shape[1]}x{result.image.shape[0]})"
            )


def planogram_command(
    planogram: Annotated[
        Path, typer.Option("--planogram", help="planogram JSON (Azure's PlanogramApiModel)")
    ],
    detections: Annotated[
        Path,
        typer.Option(
            "--detections",
            help="detected products JSON: the output of 'imagelens products --json', or Azure DetectedObject shapes",
        ),
    ],
    image: Annotated[
        str | None, typer.Option("--image", help="the shelf image: its size, and the picture to annotate")
    ] = None,
    width: Annotated[
        int | None,
        typer.Option(help="image width in pixels, when neither the detections nor --image give it"),
    ] = None,
    height: Annotated[int | None, typer.Option(help="image height in pixels")] = None,
    annotate_out: Annotated[
        Path | None, typer.Option("--annotate", help="write the annotated shelf picture (needs --image)")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print Azure's planogram matching response")
    ] = False,
) -> None:
    """Match detected products to a planogram: each position matched, misplaced or gap."""
    with cli_errors():
        from imagelens.azure.shelf import parse_detections, parse_planogram, planogram_match_json
        from imagelens.errors import InvalidArgumentError
        from imagelens.shelf.compliance import match_planogram

        plan = parse_planogram(_read_json(planogram, "planogram"))
        dets = parse_detections(_read_json(detections, "detections"))
        array = _load_rgb(image) if image is not None else None
        if width is not None and height is not None:
            size = (width, height)
        elif array is not None:
            size = (int(array.shape[1]), int(array.shape[0]))
        elif dets.image_size is not None:
            size = dets.image_size
        else:
            raise InvalidArgumentError(
                "the image size is unknown: pass --image, or --width and --height, or put imageMetadata "
                "{width, height} in the detections JSON"
            )
        result = match_planogram(plan, dets, size)
        if annotate_out is not None:
            if array is None:
                raise InvalidArgumentError("--annotate needs --image (the picture to draw on)")
            from imagelens.annotate import annotate_planogram

            _write_image(annotate_out, annotate_planogram(array, result))
        if as_json:
            print_json(planogram_match_json(result))
        else:
            counts = result.counts()
            typer.echo(
                f"{len(result.positions)} positions: {counts['matched']} matched, {counts['misplaced']} misplaced, "
                f"{counts['gap']} gaps; {len(result.unassigned)} products off the plan "
                f"(compliance {result.compliance:.0%})"
            )
            for pos in result.positions:
                if pos.state == "misplaced" and pos.detection is not None:
                    typer.echo(
                        f"  {pos.position_id}: {pos.detection.label} instead of {pos.expected_product_id}"
                    )
                elif pos.state == "gap":
                    typer.echo(f"  {pos.position_id}: empty (expected {pos.expected_product_id})")


def register(app: typer.Typer) -> None:
    app.command("stitch")(stitch_command)
    app.command("rectify")(rectify_command)
    app.command("planogram")(planogram_command)
