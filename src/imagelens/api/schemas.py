"""Response schemas of the Azure routes, for the OpenAPI document only (bodies are built by :mod:`imagelens.azure`).

They are pydantic models named as Azure's REST specs name them, so generated clients and schemathesis see the real
shapes; the routes never validate their output through them (tests check the bodies against them instead). Every
model forbids unknown keys, so a body that grows a field the schema does not know fails those tests.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------------------------------


class InnerError(_Model):
    code: str = Field(
        description="The detailed code, e.g. BadArgument, InvalidImageFormat, NotSupportedVisualFeature."
    )
    message: str


class ErrorDetail(_Model):
    code: str = Field(description="The top-level code, e.g. InvalidRequest, NotFound, TooManyRequests.")
    message: str
    innererror: InnerError | None = None


class ErrorResponse(_Model):
    """Azure's error body: every failure of every route answers it (FastAPI's ``{"detail": ...}`` never escapes)."""

    error: ErrorDetail


# --- Image Analysis 4.0 -------------------------------------------------------------------------------------------


class ImageBoundingBox(_Model):
    x: int
    y: int
    w: int
    h: int


class ImagePoint(_Model):
    x: int
    y: int


class ImageMetadataApiModel(_Model):
    width: int
    height: int


class DetectedTag(_Model):
    name: str
    confidence: float


class CaptionResult(_Model):
    text: str
    confidence: float


class DenseCaption(_Model):
    text: str
    confidence: float
    boundingBox: ImageBoundingBox


class DenseCaptionsResult(_Model):
    values: list[DenseCaption]


class DetectedObject(_Model):
    boundingBox: ImageBoundingBox
    tags: list[DetectedTag]


class ObjectsResult(_Model):
    values: list[DetectedObject]


class DetectedPerson(_Model):
    boundingBox: ImageBoundingBox
    confidence: float


class PeopleResult(_Model):
    values: list[DetectedPerson]


class DetectedTextWord(_Model):
    text: str
    boundingPolygon: list[ImagePoint] = Field(min_length=4, max_length=4)
    confidence: float


class DetectedTextLine(_Model):
    text: str
    boundingPolygon: list[ImagePoint] = Field(min_length=4, max_length=4)
    words: list[DetectedTextWord]


class DetectedTextBlock(_Model):
    lines: list[DetectedTextLine]


class ReadResult(_Model):
    blocks: list[DetectedTextBlock]


class CropRegion(_Model):
    aspectRatio: float
    boundingBox: ImageBoundingBox


class SmartCropsResult(_Model):
    values: list[CropRegion]


class TagsResult(_Model):
    values: list[DetectedTag]


class CustomModelResult(_Model):
    tagsResult: TagsResult
    objectsResult: ObjectsResult


class ImageAnalysisResult(_Model):
    """``POST /computervision/imageanalysis:analyze``: only the requested blocks appear."""

    modelVersion: str
    metadata: ImageMetadataApiModel
    captionResult: CaptionResult | None = None
    denseCaptionsResult: DenseCaptionsResult | None = None
    objectsResult: ObjectsResult | None = None
    peopleResult: PeopleResult | None = None
    readResult: ReadResult | None = None
    smartCropsResult: SmartCropsResult | None = None
    tagsResult: TagsResult | None = None
    customModelResult: CustomModelResult | None = None


# --- Computer Vision 3.2 ------------------------------------------------------------------------------------------


class Metadata32(_Model):
    width: int
    height: int
    format: str


class Rectangle32(_Model):
    x: int
    y: int
    w: int
    h: int


class Tag32(_Model):
    name: str
    confidence: float


class Caption32(_Model):
    text: str
    confidence: float


class ImageDescription32(_Model):
    tags: list[str]
    captions: list[Caption32]


class FaceRectangle32(_Model):
    left: int
    top: int
    width: int
    height: int


class FaceDescription32(_Model):
    """A face box only: never age, gender or identity."""

    faceRectangle: FaceRectangle32


class ObjectHierarchy32(_Model):
    object: str
    confidence: float
    parent: ObjectHierarchy32 | None = None


class DetectedObject32(_Model):
    rectangle: Rectangle32
    object: str
    confidence: float
    parent: ObjectHierarchy32 | None = None


class ColorInfo32(_Model):
    dominantColorForeground: str
    dominantColorBackground: str
    dominantColors: list[str]
    accentColor: str
    isBWImg: bool


class Warning32(_Model):
    code: str
    message: str


class ImageAnalysis32(_Model):
    """``POST /vision/v3.2/analyze`` (and ``describe``, ``tag``, ``detect``, its subsets)."""

    tags: list[Tag32] | None = None
    description: ImageDescription32 | None = None
    faces: list[FaceDescription32] | None = None
    objects: list[DetectedObject32] | None = None
    color: ColorInfo32 | None = None
    requestId: str
    metadata: Metadata32
    modelVersion: str
    warnings: list[Warning32] | None = Field(
        None, description="imagelens: why part of the request was declined (e.g. details=Celebrities)."
    )


class TagResult32(_Model):
    tags: list[Tag32]
    requestId: str
    metadata: Metadata32
    modelVersion: str


class ImageDescriptionResult32(_Model):
    description: ImageDescription32
    requestId: str
    metadata: Metadata32
    modelVersion: str


class DetectResult32(_Model):
    objects: list[DetectedObject32]
    requestId: str
    metadata: Metadata32
    modelVersion: str


class AreaOfInterestResult32(_Model):
    areaOfInterest: Rectangle32
    requestId: str
    metadata: Metadata32
    modelVersion: str


class OcrWord32(_Model):
    boundingBox: str = Field(description='"x,y,w,h"')
    text: str


class OcrLine32(_Model):
    boundingBox: str
    words: list[OcrWord32]


class OcrRegion32(_Model):
    boundingBox: str
    lines: list[OcrLine32]


class OcrResult32(_Model):
    language: str
    textAngle: float
    orientation: str
    regions: list[OcrRegion32]


class Style32(_Model):
    name: str
    confidence: float


class Appearance32(_Model):
    style: Style32


class ReadWord32(_Model):
    boundingBox: list[float] = Field(min_length=8, max_length=8)
    text: str
    confidence: float


class ReadLine32(_Model):
    boundingBox: list[float] = Field(min_length=8, max_length=8)
    text: str
    appearance: Appearance32
    words: list[ReadWord32]


class ReadPage32(_Model):
    page: int
    angle: float
    width: int
    height: int
    unit: Literal["pixel", "inch"]
    lines: list[ReadLine32]


class AnalyzeResult32(_Model):
    version: str
    modelVersion: str
    readResults: list[ReadPage32]


class ReadOperationResult32(_Model):
    """``GET /vision/v3.2/read/analyzeResults/{operationId}``: ``analyzeResult`` once succeeded."""

    status: Literal["notStarted", "running", "succeeded", "failed"]
    createdDateTime: str
    lastUpdatedDateTime: str
    analyzeResult: AnalyzeResult32 | None = None
    error: ErrorDetail | None = None


class DomainModel32(_Model):
    name: str
    categories: list[str]


class ListModelsResult32(_Model):
    models: list[DomainModel32]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries with Azure's error body for each status (plus 401 and 429, which any route may
    answer)."""
    what = {
        400: "Bad request: a wrong parameter or image (Azure's codes in ``error.innererror.code``).",
        401: "A missing or wrong Ocp-Apim-Subscription-Key (when the server has keys).",
        404: "Not found.",
        409: "Conflict.",
        429: "The server is busy: retry after the Retry-After header's seconds.",
        500: "An internal error.",
        503: "A model the request needs is not available on this server.",
    }
    return {s: {"model": ErrorResponse, "description": what[s]} for s in sorted({*statuses, 401, 429})}
