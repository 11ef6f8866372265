"""genimg studio: a local web application over run directories (``genimg studio RUN [RUN ...]``).

Four pages; the first three offered per model by what it can do (``model.has(...)``), never by family:

- **Explore** (capability ``latent``): the encoded test set on a 2-D map (the latent itself,
  or its PCA plane), decoded live under the pointer; interpolation strips between two test
  images; per-coordinate sliders where coordinates mean something alone; a class picker
  for class-conditional models; a DDIM step count for a denoiser's latent.
- **Draw**: a canvas at the data's resolution; reconstruct (``reconstruct``), stroke -> image
  with SDEdit (``denoiser``), inpaint a masked region (the library's inpainting methods the
  model can run), each scored with MSE, PSNR and SSIM against the input.
- **Judge** (every model): blind two-alternative trials, a real test image against a sample,
  optionally time-limited (HYPE); answers committed to ``RUN/judgements/judgements.sqlite``
  and never waiting for a model call; ``genimg judge-score`` reads them.
- **Results**: the teacher's live view of the round (fooling rates, intervals, each judge's
  progress, the answers as CSV).

The solvers, paths and latent spaces are the library's (``genimg.tasks.explore``,
``genimg.tasks.recover``); the studio adds routes, pages and the records of judgements.
FastAPI and uvicorn come from the optional extra ``genimg[studio]``; nothing below this
package imports it.

    workspace.py       Studio, StudioRun: the runs fixed at start-up, the views each offers
    latent_map.py      the plane of the Explore map and the test set on it
    explore_views.py   decode a point or a code, interpolation strips
    draw_views.py      reconstruct, SDEdit, inpaint, with scores
    judge_round.py     the seeded trials of a judging round, its pools of samples, the exposures
    judge_views.py     the judge's next trial, answers into the store, the results page's figures
    codec.py           PNG data URLs out, checked pixel lists in
    schemas.py         the request bodies, typed and bounded
    guard.py           token, Host header and body-size checks before any route
    error_replies.py   one-line JSON errors
    app.py             the routes (create_app)
    server.py          StudioServer (uvicorn, in a thread or in the foreground), serve
    static/            the pages: HTML, CSS and JS, no build step, nothing from the network
"""

from genimg.studio.app import create_app
from genimg.studio.server import StudioOptions, StudioServer, serve
from genimg.studio.workspace import Studio, StudioRun, offered_views

__all__ = ["Studio", "StudioOptions", "StudioRun", "StudioServer", "create_app", "offered_views", "serve"]
