"""genimg studio without a browser: views offered by capability, the API's answers and refusals,
the access token, judgements in their store and their score (``genimg judge-score``), the results
page's figures, time-limited rounds, and judging that never waits for a model call.

The runs are tiny and trained for a moment: these tests check the server's mechanics, not
the models' quality (tests/test_studio_browser.py does the pages, with better-trained runs).
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("fastapi", reason="the studio extra (fastapi, uvicorn) is not installed")
httpx = pytest.importorskip("httpx", reason="httpx (FastAPI's test client) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from genimg.cli import main  # noqa: E402
from genimg.evaluate.judgements import (  # noqa: E402
    RECORD_FIELDS,
    JudgementStore,
    judge_score,
    picked_source,
    wilson_interval,
)
from genimg.io import append_jsonl  # noqa: E402
from genimg.studio import Studio, StudioOptions, StudioServer, create_app  # noqa: E402
from genimg.studio.judge_round import Exposure, JudgeRound  # noqa: E402
from genimg.tasks.explore import latent_space  # noqa: E402
from genimg.train import apply_overrides, default_config, train  # noqa: E402

FAST = ["progress=false", "threads=1", "likelihood_at_end=false", "sample_every=0", "patience=null", "epochs=1"]
SRC = Path(__file__).resolve().parents[1] / "src"


def _train(family: str, out: Path, name: str, *overrides: str) -> Path:
    config = apply_overrides(default_config(family), [f"out={out}", f"run_name={name}", *FAST, *overrides])
    return train(config, quiet=True).run.path


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A 2-D VAE, a tiny diffusion model, a tiny DCGAN and a class-conditional VAE on the digits,
    one epoch each."""
    out = tmp_path_factory.mktemp("studio-runs")
    return {
        "vae": _train("vae", out, "vae", "latent_dim=2", "hidden=32"),
        "diffusion": _train(
            "diffusion", out, "diffusion", "timesteps=50", "channels=8", "attention=false", "fid_every=0",
            "select_by=val_loss", "data.limit=100",
        ),
        "dcgan": _train("dcgan", out, "dcgan", "latent_dim=8", "g_features=8", "d_features=8", "data.limit=100"),
        "cvae": _train("vae", out, "cvae", "latent_dim=2", "hidden=32", "conditional=true", "data.limit=200"),
    }  # fmt: skip


@pytest.fixture(scope="module")
def studio(runs) -> Studio:
    return Studio.open(list(runs.values()))


def client_for(studio: Studio, **round_options) -> TestClient:
    options = {"seed": 0, "trials": 20, "time_limit_s": None, **round_options}
    judge_round = JudgeRound(list(studio.runs.values()), **options)
    app = create_app(studio, judge_round, allowed_hosts=("127.0.0.1", "localhost"))
    return TestClient(app, base_url="http://127.0.0.1")


@pytest.fixture(scope="module")
def client(studio) -> TestClient:
    return client_for(studio)


def one_line_error(response, status: int) -> str:
    """The error of a refused request: the status, JSON with one line, no traceback."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and body["error"] and "\n" not in body["error"]
    assert "Traceback" not in response.text and 'File "' not in response.text
    return body["error"]


# ---------------------------------------------------------------------------- scoring


def test_wilson_interval_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(0, 20), (3, 20), (10, 20), (20, 20), (1, 3), (47, 200)]:
        expected = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        low, high = wilson_interval(k, n)
        assert math.isclose(low, expected.low, abs_tol=1e-9) and math.isclose(high, expected.high, abs_tol=1e-9)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def _record(trial, choice, real_left=True, judge="j1", round_id="r"):
    real = {"source": "real", "split": "test", "index": trial}
    fake = {"source": "generated", "pool": "pool.npy", "index": trial}
    left, right = (real, fake) if real_left else (fake, real)
    return {"trial": trial, "judge": judge, "round": round_id, "left": left, "right": right, "choice": choice}


def test_judge_score_reads_what_was_shown_and_chosen(tmp_path):
    assert judge_score(tmp_path) is None  # no judgements yet
    path = tmp_path / "judgements" / "judgements.jsonl"
    path.parent.mkdir()
    records = [
        _record(0, "left", real_left=True),  # found the real one
        _record(1, "left", real_left=False),  # picked the sample: fooled
        _record(2, "right", real_left=True),  # fooled
        _record(3, None),  # timed out
        _record(1, "right", real_left=False),  # a repeat of trial 1 counts once (the first answer)
        _record(0, "right", real_left=True, judge="j2"),  # another judge, fooled
    ]
    for record in records:
        append_jsonl(path, record)
    with open(path, "a") as f:
        f.write('{"torn line')
    score = judge_score(tmp_path)
    assert score["trials"] == 4 and score["fooled"] == 3 and score["timeouts"] == 1 and score["judges"] == 2
    assert score["fooling_rate"] == 0.75 and score["ci95"] == list(wilson_interval(3, 4))
    assert "Wilson" in score["interval"]
    assert picked_source(_record(0, "left", real_left=False)) == "generated"


# ---------------------------------------------------------------------------- views by capability


def test_views_are_offered_by_capability(client, studio, runs):
    described = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    vae, diffusion, dcgan = (described[name]["views"] for name in ("vae", "diffusion", "dcgan"))
    assert vae["explore"]["encoded_map"] and vae["explore"]["sliders"] and vae["explore"]["ddim_steps"] is None
    assert vae["draw"]["reconstruct"]["offered"] and not vae["draw"]["sdedit"]["offered"]
    assert [m["name"] for m in vae["draw"]["inpaint"]["methods"]] == ["latent"]
    assert diffusion["explore"]["ddim_steps"] and not diffusion["explore"]["sliders"]
    assert diffusion["draw"]["sdedit"]["offered"] and not diffusion["draw"]["reconstruct"]["offered"]
    assert {"dps", "repaint"} <= {m["name"] for m in diffusion["draw"]["inpaint"]["methods"]}
    assert not dcgan["explore"]["encoded_map"] and dcgan["explore"]["map_reason"]
    assert dcgan["draw"]["reconstruct"]["reason"] and all(r["views"]["judge"]["offered"] for r in described.values())


def test_a_2d_latent_map_holds_the_codes_and_decodes_them(client, studio, runs):
    reply = client.post("/api/explore/map", json={"run": "vae"}).json()
    assert reply["basis"] == "latent" and len(reply["points"]) == len(reply["indices"]) > 100
    run = studio.get("vae")
    space = latent_space(run.model)
    index = reply["indices"][0]
    with torch.no_grad():
        code = space.encode(run.test.images[index : index + 1])[0]
    assert torch.allclose(torch.tensor(reply["points"][0]), code, atol=1e-4)
    decoded = client.post("/api/explore/decode", json={"run": "vae", "point": reply["points"][0]}).json()
    assert decoded["image"].startswith("data:image/png;base64,") and len(decoded["code"]) == 2
    # the prior plane of a model without an encoder, and the DDIM latent of a diffusion model
    assert client.post("/api/explore/map", json={"run": "dcgan"}).json()["points"] == []
    strip = client.post("/api/explore/interpolate", json={"run": "dcgan", "points": [[-1, 0], [1, 1]], "frames": 4})
    assert len(strip.json()["frames"]) == 4
    ddim = client.post("/api/explore/map", json={"run": "diffusion", "steps": 2}).json()
    assert ddim["basis"] == "principal directions" and ddim["sliders"] == []


def test_a_class_conditional_model_decodes_the_class_picked(client):
    described = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert described["cvae"]["conditional"] and not described["vae"]["conditional"]
    point = client.post("/api/explore/map", json={"run": "cvae"}).json()["points"][0]
    images = [
        client.post("/api/explore/decode", json={"run": "cvae", "point": point, "label": k}).json()["image"]
        for k in (1, 7)
    ]
    assert images[0] != images[1]
    assert "label must lie in 0..9" in one_line_error(
        client.post("/api/explore/decode", json={"run": "cvae", "point": point, "label": 10}), 400
    )
    strip = client.post("/api/explore/interpolate", json={"run": "cvae", "images": [0, 1], "label": 3, "frames": 3})
    assert len(strip.json()["frames"]) == 3
    test = client.post("/api/test-image", json={"run": "cvae", "index": 5}).json()
    assert test["index"] == 5 and len(test["pixels"]) == 64 and 0 <= test["label"] <= 9
    recon = client.post("/api/draw/reconstruct", json={"run": "cvae", "pixels": test["pixels"], "label": test["label"]})
    assert recon.status_code == 200


def test_draw_actions_run_the_library_solvers(client):
    pixels = [0.0] * 64
    for row in range(1, 7):
        pixels[row * 8 + 4] = 1.0  # a "1"
    edits = client.post("/api/draw/sdedit", json={"run": "diffusion", "pixels": pixels, "samples": 3, "steps": 5})
    assert len(edits.json()["images"]) == 3 and set(edits.json()["scores"][0]) == {"mse", "psnr", "ssim"}
    mask = [1.0 if i < 24 else 0.0 for i in range(64)]
    for run, method in [("diffusion", "dps"), ("diffusion", "repaint"), ("vae", "latent")]:
        reply = client.post(
            "/api/draw/inpaint", json={"run": run, "pixels": pixels, "mask": mask, "method": method, "steps": 4}
        )
        assert reply.status_code == 200 and reply.json()["missing"] == 0.375, reply.text
    recon = client.post("/api/draw/reconstruct", json={"run": "vae", "pixels": pixels}).json()
    assert recon["scores"][0]["mse"] >= 0


# ---------------------------------------------------------------------------- refusals


def test_malformed_requests_get_one_line_json_errors(client):
    pixels = [0.0] * 64
    post = client.post
    assert "JSON" in one_line_error(
        post("/api/draw/sdedit", content=b"{not json", headers={"content-type": "application/json"}), 422
    )
    assert "strength" in one_line_error(
        post("/api/draw/sdedit", json={"run": "diffusion", "pixels": pixels, "strength": 2}), 422
    )
    assert "pixels" in one_line_error(post("/api/draw/sdedit", json={"run": "diffusion", "pixels": "abc"}), 422)
    assert "path" in one_line_error(
        post("/api/draw/reconstruct", json={"run": "vae", "pixels": pixels, "path": "/etc/passwd"}), 422
    )
    assert "run" in one_line_error(post("/api/explore/map", json={"run": "../../etc"}), 422)
    assert "unknown run" in one_line_error(post("/api/explore/map", json={"run": "elsewhere"}), 404)
    assert "64 numbers" in one_line_error(post("/api/draw/reconstruct", json={"run": "vae", "pixels": [0.5] * 10}), 400)
    assert "mask is empty" in one_line_error(
        post("/api/draw/inpaint", json={"run": "diffusion", "pixels": pixels, "mask": [0] * 64, "method": "dps"}), 400
    )
    assert "encoder and a decoder" in one_line_error(
        post("/api/draw/reconstruct", json={"run": "diffusion", "pixels": pixels}), 400
    )
    assert "label" in one_line_error(
        post("/api/explore/decode", json={"run": "vae", "point": [0, 0], "label": -1}), 422
    )
    one_line_error(client.get("/static/app.py"), 404)
    one_line_error(client.get("/no/such/page"), 404)
    one_line_error(client.get("/api/draw/sdedit"), 405)


def test_an_internal_error_is_one_line_too(studio, monkeypatch):
    import genimg.studio.app as app_module

    def broken(*_, **__):
        raise RuntimeError("a bug\nwith a traceback")

    monkeypatch.setattr(app_module, "test_image_reply", broken)
    judge_round = JudgeRound(list(studio.runs.values()), seed=0, trials=2, time_limit_s=None)
    app = create_app(studio, judge_round, allowed_hosts=("127.0.0.1",))
    client = TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False)
    message = one_line_error(client.post("/api/test-image", json={"run": "vae"}), 500)
    assert "a bug" not in message and "log" in message


def test_oversized_bodies_are_refused_before_they_are_read(client):
    big = b"[" + b"0.5," * 100_000 + b"0.5]"
    assert "too large" in one_line_error(
        client.post("/api/draw/reconstruct", content=big, headers={"content-type": "application/json"}), 413
    )

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(100):
            yield b"x" * 10_000

    assert "too large" in one_line_error(client.post("/api/draw/reconstruct", content=chunks()), 413)


def test_a_loopback_bind_answers_loopback_hosts_only(client):
    assert client.get("/api/runs").status_code == 200
    one_line_error(client.get("/api/runs", headers={"host": "rebound.example:8765"}), 400)


def test_a_network_bind_needs_the_token(runs):
    server = StudioServer([runs["vae"]], StudioOptions(host="0.0.0.0", port=0)).start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert server.token and f"?token={server.token}" in server.url
        for path in ("/", "/judge", "/results", "/static/common.js", "/api/runs", "/api/results", "/api/results.csv"):
            assert "access token" in one_line_error(httpx.get(base + path), 401)
        one_line_error(httpx.get(base + "/api/runs", headers={"authorization": "Bearer wrong"}), 401)
        one_line_error(httpx.post(base + "/api/explore/map", json={"run": "vae"}), 401)
        assert httpx.get(base + "/api/runs", headers={"authorization": f"Bearer {server.token}"}).status_code == 200
        page = httpx.get(f"{base}/?token={server.token}")
        assert page.status_code == 200 and "HttpOnly" in page.headers["set-cookie"]
        assert httpx.get(base + "/api/runs", cookies={"genimg_token": server.token}).status_code == 200
        assert httpx.get(base + "/api/results", params={"token": server.token}).json()["trials"] == 50
        deadline = time.monotonic() + 60  # the round's pool is drawn at start-up, before any judge asks
        while not server.judge_round.ready:
            assert time.monotonic() < deadline, "the judging round was not drawn at start-up"
            time.sleep(0.05)
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_cli_prints_the_token_of_a_network_bind_and_serves_with_it(runs):
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    command = [sys.executable, "-m", "genimg", "studio", str(runs["vae"]), "--host", "0.0.0.0", "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        lines = []
        while not any("access token:" in line for line in lines):
            line = process.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        token = next(line for line in lines if "access token:" in line).split()[-1]
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                refused = httpx.get(base + "/api/runs")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert refused.status_code == 401
        assert httpx.get(base + "/api/runs", params={"token": token}).json()["runs"][0]["name"] == "vae"
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_cli_refusals_are_one_line(runs, tmp_path, capsys):
    assert main(["studio", str(tmp_path)]) == 2
    assert "not a genimg run directory" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        assert main(["studio", str(runs["vae"]), "--port", str(busy.getsockname()[1])]) == 2
    assert "cannot listen" in capsys.readouterr().err
    assert main(["judge-score", str(runs["dcgan"])]) == 2
    assert "no judgements" in capsys.readouterr().err


# ---------------------------------------------------------------------------- judging


def _records(run: Path) -> list[dict]:
    with JudgementStore.open(run) as store:
        return store.records()


def _answer(client: TestClient, judge: str, trial: int, choice: str | None = "left", ms: int = 100):
    return client.post("/api/judge/answer", json={"judge": judge, "trial": trial, "choice": choice, "response_ms": ms})


def test_judge_answers_are_recorded_in_turn_and_survive_a_restart(studio, runs):
    client = client_for(studio, seed=3, trials=12)
    trial = client.post("/api/judge/next", json={}).json()
    judge = trial["judge"]
    assert trial["trial"] == 0 and trial["left"].startswith("data:image/png") and trial["exposure_ms"] is None
    assert "out of turn" in one_line_error(_answer(client, judge, 5), 409)
    for k in range(7):
        reply = _answer(client, judge, k, ms=100 + k)
        assert reply.status_code == 200 and reply.json()["trial"] == k + 1
    assert "already answered" in one_line_error(_answer(client, judge, 3, "right"), 409)
    restarted = client_for(Studio.open(list(runs.values())), seed=3, trials=12)  # a new server, same runs
    assert restarted.post("/api/judge/next", json={"judge": judge}).json()["trial"] == 7
    records = [r for run in runs.values() for r in _records(run) if r["round"] == trial["round"]]
    assert sorted(r["trial"] for r in records) == list(range(7))
    assert all(set(RECORD_FIELDS) <= set(r) for r in records)
    assert {r["run"] for r in records} == set(runs)  # the round takes turns over the runs
    for record in records:  # the image shown on the left is the one the trial plan names
        shown = record["left"]
        assert shown["source"] in ("real", "generated") and record["right"]["source"] != shown["source"]
    assert "choice" in one_line_error(_answer(client, judge, 7, None), 400)
    timed = client_for(studio, seed=4, trials=3, time_limit_s=2.0)
    first = timed.post("/api/judge/next", json={"judge": "timer"}).json()
    assert first["time_limit_s"] == 2.0
    assert _answer(timed, "timer", 0, None, 2000).json()["trial"] == 1


def test_judging_never_waits_for_the_compute_lock(studio):
    """A judge's click must not queue behind an SDEdit someone started on the Draw page: with the
    compute lock held the whole time, a judge still gets trials and records answers."""
    client = client_for(studio, seed=11, trials=6)
    client.post("/api/judge/next", json={"judge": "warm"})  # draws the pools (the only model call)
    replies: list[int] = []

    def judge() -> None:
        trial = client.post("/api/judge/next", json={"judge": "busy"}).json()["trial"]
        for k in range(trial, trial + 3):
            replies.append(_answer(client, "busy", k).status_code)

    with studio.compute:
        worker = threading.Thread(target=judge)
        worker.start()
        worker.join(timeout=20)
    assert not worker.is_alive() and replies == [200, 200, 200]


def test_results_give_the_scores_of_judge_score_and_every_answer_as_csv(studio, runs):
    client = client_for(studio, seed=5, trials=8)
    judge = client.post("/api/judge/next", json={}).json()["judge"]
    for k in range(5):
        assert _answer(client, judge, k, "left" if k % 2 else "right").status_code == 200
    results = client.get("/api/results").json()
    assert results["round_answers"] == 5 and results["trials"] == 8
    mine = next(j for j in results["judges"] if j["judge"] == judge)
    assert mine["answers"] == 5 and mine["answered"] == 5
    for entry in results["scores"]:
        expected = judge_score(runs[entry["name"]])
        assert entry["score"]["trials"] == expected["trials"] and entry["score"]["fooled"] == expected["fooled"]
        assert entry["score"]["ci95"] == expected["ci95"] and entry["score"]["judges"] == expected["judges"]
    csv = client.get("/api/results.csv")
    assert csv.headers["content-type"].startswith("text/csv") and "attachment" in csv.headers["content-disposition"]
    lines = csv.text.strip().splitlines()
    assert lines[0].startswith("run,round,seed,trial,judge") and len(lines) - 1 == results["answers"]
    assert client.get("/results").text.count("results.js") == 1


def test_a_fixed_exposure_and_a_staircase_per_judge_and_run(studio, runs):
    fixed = client_for(studio, seed=6, trials=4, exposure=Exposure(fixed_ms=300))
    first = fixed.post("/api/judge/next", json={"judge": "glance"}).json()
    assert first["exposure_ms"] == 300 and first["exposure"]["mode"] == "fixed" and "-e300-" in first["round"]
    assert _answer(fixed, "glance", 0).status_code == 200
    assert [r["exposure_ms"] for run in runs.values() for r in _records(run) if r["judge"] == "glance"] == [300]

    staircase = Exposure(staircase=True)
    assert staircase.next_ms([]) == 500 and staircase.next_ms([True] * 3) == 450
    assert staircase.next_ms([True, True, False]) == 550 and staircase.next_ms([True] * 60) == 100
    judge_round = JudgeRound(list(studio.runs.values()), seed=8, trials=16, time_limit_s=None, exposure=staircase)
    client = TestClient(create_app(studio, judge_round, allowed_hosts=("127.0.0.1",)), base_url="http://127.0.0.1")
    answered: dict[str, list[bool]] = {}
    for k in range(16):  # right about every run but the diffusion model, whose staircase climbs
        trial = judge_round.trial(k)
        reply = client.post("/api/judge/next", json={"judge": "stair"}).json()
        assert reply["trial"] == k and reply["exposure_ms"] == staircase.next_ms(answered.get(trial.run.id, []))
        correct = trial.run.name != "diffusion"
        choice = "left" if trial.real_left == correct else "right"
        assert _answer(client, "stair", k, choice).status_code == 200
        answered.setdefault(trial.run.id, []).append(correct)
    recorded = [r for r in _records(runs["diffusion"]) if r["judge"] == "stair"]
    assert [r["exposure_ms"] for r in recorded] == [500 + 50 * i for i in range(len(recorded))]
    restarted = TestClient(create_app(studio, judge_round, allowed_hosts=("127.0.0.1",)), base_url="http://127.0.0.1")
    assert restarted.post("/api/judge/next", json={"judge": "stair"}).json()["done"]


def test_judge_score_cli_prints_the_rate_and_interval(runs, capsys):
    path = runs["vae"] / "judgements" / "cli.jsonl"
    path.parent.mkdir(exist_ok=True)
    for k in range(10):
        append_jsonl(path, _record(k, "left", real_left=k >= 4, judge="cli", round_id="cli"))  # 4 of 10 fooled
    assert main(["judge-score", str(runs["vae"]), "--json"]) == 0
    scores = json.loads(capsys.readouterr().out)[str(runs["vae"])]
    expected = judge_score(runs["vae"])
    assert scores["fooled"] == expected["fooled"] and scores["trials"] == expected["trials"]
    assert main(["judge-score", str(runs["vae"])]) == 0
    out = capsys.readouterr().out
    assert f"{expected['fooling_rate']:.1%}" in out and "Wilson" in out
    assert main(["judge-score", str(runs["vae"]), "--export", "csv"]) == 0
    rows = (runs["vae"] / "judgements" / "judgements.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + expected["records"] and rows[0].split(",")[:3] == ["run", "round", "seed"]
    assert main(["judge-score", str(runs["vae"]), "--export", "jsonl"]) == 0
    exported = [json.loads(line) for line in (runs["vae"] / "judgements" / "judgements.jsonl").read_text().splitlines()]
    assert len(exported) == expected["records"] and judge_score(runs["vae"])["records"] == expected["records"]
