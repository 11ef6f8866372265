"""The request bodies the API accepts, and nothing else: every field typed and bounded, unknown
fields refused (so no request can smuggle in a path or an option the server does not offer).

A run is named by its id (``workspace.ID_PATTERN``); images arrive as flat lists of numbers
in [0, 1] (``codec.pixels_to_image`` checks their length against the run's shape).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from genimg.studio.workspace import ID_PATTERN

MOST_PIXELS = 3 * 64 * 64  # the largest image the pages send (64x64 RGB)
MOST_CODE = 4096  # numbers in a latent code sent back from the sliders

RunId = Annotated[str, Field(pattern=ID_PATTERN)]
Unit = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]
Label = Annotated[int, Field(ge=0, le=100_000)]
DdimSteps = Annotated[int, Field(ge=1, le=1000)]
Point = Annotated[list[Finite], Field(min_length=2, max_length=2)]  # (u, v) on the latent map
JudgeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class MapRequest(Request):
    run: RunId
    steps: DdimSteps | None = None


class DecodeRequest(Request):
    run: RunId
    steps: DdimSteps | None = None
    label: Label | None = None
    point: Point | None = None
    code: Annotated[list[Finite], Field(min_length=1, max_length=MOST_CODE)] | None = None


class InterpolateRequest(Request):
    run: RunId
    steps: DdimSteps | None = None
    label: Label | None = None
    method: Literal["linear", "slerp"] = "slerp"
    frames: Annotated[int, Field(ge=2, le=32)] = 10
    images: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)] | None = None
    points: Annotated[list[Point], Field(min_length=2, max_length=2)] | None = None


class TestImageRequest(Request):
    run: RunId
    index: Annotated[int, Field(ge=0)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**31)] | None = None


class DrawingRequest(Request):
    run: RunId
    pixels: Annotated[list[Unit], Field(min_length=1, max_length=MOST_PIXELS)]
    label: Label | None = None


class StrokeRequest(DrawingRequest):
    strength: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 0.5
    samples: Annotated[int, Field(ge=1, le=8)] = 4
    steps: Annotated[int, Field(ge=1, le=1000)] = 20
    seed: Annotated[int, Field(ge=0, le=2**31)] = 0


class InpaintRequest(DrawingRequest):
    mask: Annotated[list[Unit], Field(min_length=1, max_length=MOST_PIXELS)]
    method: Annotated[str, Field(pattern=r"^[a-z-]{1,32}$")]
    samples: Annotated[int, Field(ge=1, le=4)] = 1
    steps: Annotated[int, Field(ge=1, le=1000)] | None = None
    seed: Annotated[int, Field(ge=0, le=2**31)] = 0


class NextTrialRequest(Request):
    judge: JudgeId | None = None


class AnswerRequest(Request):
    judge: JudgeId
    trial: Annotated[int, Field(ge=0)]
    choice: Literal["left", "right"] | None
    response_ms: Annotated[int, Field(ge=0, le=3_600_000)]
