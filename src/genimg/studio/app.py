"""The studio's web application: five pages and the JSON API behind them.

    GET  /  /explore  /draw  /judge        the pages (plain HTML, CSS and JS from the package)
    GET  /results                          the teacher's live view of the judging round
    GET  /static/NAME                      their scripts and style sheet (a fixed list)
    GET  /api/runs                         the runs, each with the views it offers by capability
    POST /api/explore/map                  the latent map of the encoded test set
    POST /api/explore/decode               decode a point of the map or a code (the sliders)
    POST /api/explore/interpolate          an interpolation strip between two test images
    POST /api/test-image                   a test image for the canvas
    POST /api/draw/reconstruct             the drawing through the model's encoder and decoder
    POST /api/draw/sdedit                  stroke -> image: SDEdit samples from the drawing
    POST /api/draw/inpaint                 fill in the masked pixels (DPS, RePaint, latent)
    POST /api/judge/next                   the judge's next trial (a new judge id if none)
    POST /api/judge/answer                 record an answer, reply with the next trial
    GET  /api/results                      fooling rates, intervals, thresholds, each judge's progress
    GET  /api/results.csv                  every answer, as CSV

Routes are plain functions, which FastAPI runs in its thread pool; model calls take the
studio's ``compute`` lock, and the judge and results routes never do (``judge_views.py``).
``create_app`` returns the app wrapped in ``guard.Guard``.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from genimg.studio import error_replies
from genimg.studio.codec import mask_to_keep, pixels_to_image
from genimg.studio.draw_views import inpaint, reconstruct, stroke_to_image, test_image_reply
from genimg.studio.explore_views import ExploreViews
from genimg.studio.guard import Guard
from genimg.studio.judge_round import JudgeRound
from genimg.studio.judge_views import JudgeViews
from genimg.studio.schemas import (
    AnswerRequest,
    DecodeRequest,
    DrawingRequest,
    InpaintRequest,
    InterpolateRequest,
    MapRequest,
    NextTrialRequest,
    StrokeRequest,
    TestImageRequest,
)
from genimg.studio.workspace import Studio

PAGES = {
    "/": "index.html",
    "/explore": "explore.html",
    "/draw": "draw.html",
    "/judge": "judge.html",
    "/results": "results.html",
}
STATIC = {
    "studio.css": "text/css; charset=utf-8",
    "common.js": "text/javascript; charset=utf-8",
    "index.js": "text/javascript; charset=utf-8",
    "explore.js": "text/javascript; charset=utf-8",
    "explore-map.js": "text/javascript; charset=utf-8",
    "draw.js": "text/javascript; charset=utf-8",
    "draw-canvas.js": "text/javascript; charset=utf-8",
    "judge.js": "text/javascript; charset=utf-8",
    "results.js": "text/javascript; charset=utf-8",
}


def static_text(name: str) -> str:
    return (resources.files("genimg.studio") / "static" / name).read_text(encoding="utf-8")


def create_app(
    studio: Studio,
    judge_round: JudgeRound,
    *,
    token: str | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
) -> Guard:
    app = FastAPI(title="genimg studio", docs_url=None, redoc_url=None, openapi_url=None)
    error_replies.install(app)
    explore = ExploreViews()
    judge = JudgeViews(judge_round, studio.compute)

    for path, name in PAGES.items():
        app.add_api_route(path, _page(name), methods=["GET"], response_class=HTMLResponse)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, f"no static file '{name}'")
        return Response(static_text(name), media_type=STATIC[name])

    @app.get("/api/runs")
    def runs() -> dict[str, Any]:
        return {"runs": [r.describe() for r in studio.runs.values()], "judge": judge_round.describe()}

    @app.post("/api/explore/map")
    def explore_map(body: MapRequest) -> dict[str, Any]:
        run = studio.get(body.run)
        with studio.compute:
            return explore.map_reply(run, body.steps)

    @app.post("/api/explore/decode")
    def explore_decode(body: DecodeRequest) -> dict[str, Any]:
        run = studio.get(body.run)
        with studio.compute:
            return explore.decode(run, body.steps, body.label, point=body.point, code=body.code)

    @app.post("/api/explore/interpolate")
    def explore_interpolate(body: InterpolateRequest) -> dict[str, Any]:
        run = studio.get(body.run)
        with studio.compute:
            return explore.interpolate(
                run, body.steps, body.label, body.method, body.frames, images=body.images, points=body.points
            )

    @app.post("/api/test-image")
    def test_image(body: TestImageRequest) -> dict[str, Any]:
        return test_image_reply(studio.get(body.run), body.index, body.seed)

    @app.post("/api/draw/reconstruct")
    def draw_reconstruct(body: DrawingRequest) -> dict[str, Any]:
        run = studio.get(body.run)
        image = pixels_to_image(body.pixels, run.image_shape)
        with studio.compute:
            return reconstruct(run, image, body.label)

    @app.post("/api/draw/sdedit")
    def draw_sdedit(body: StrokeRequest) -> dict[str, Any]:
        run = studio.get(body.run)
        image = pixels_to_image(body.pixels, run.image_shape)
        with studio.compute:
            return stroke_to_image(run, image, body.strength, body.samples, body.steps, body.seed)

    @app.post("/api/draw/inpaint")
    def draw_inpaint(body: InpaintRequest) -> dict[str, Any]:
        run = studio.get(body.run)
        image = pixels_to_image(body.pixels, run.image_shape)
        keep = mask_to_keep(body.mask, run.image_shape)
        with studio.compute:
            return inpaint(run, image, keep, body.method, body.samples, body.steps, body.seed)

    @app.post("/api/judge/next")
    def judge_next(body: NextTrialRequest) -> dict[str, Any]:
        return judge.next_trial(body.judge)

    @app.post("/api/judge/answer")
    def judge_answer(body: AnswerRequest) -> dict[str, Any]:
        return judge.answer(body.judge, body.trial, body.choice, body.response_ms)

    @app.get("/api/results")
    def results() -> dict[str, Any]:
        return judge.results()

    @app.get("/api/results.csv")
    def results_csv() -> Response:
        disposition = f'attachment; filename="judgements-{judge_round.id}.csv"'
        return Response(judge.csv(), media_type="text/csv; charset=utf-8", headers={"content-disposition": disposition})

    return Guard(app, token=token, allowed_hosts=allowed_hosts)


def _page(name: str) -> Callable[[], HTMLResponse]:
    def page() -> HTMLResponse:
        return HTMLResponse(static_text(name))

    page.__name__ = f"page_{name.split('.')[0]}"
    return page
