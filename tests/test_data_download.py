"""Downloads and the standard datasets, against a tiny HTTP server on 127.0.0.1 serving real formats.

The files are small but in the official layouts (gzipped IDX; the CIFAR-10 python tarball
of pickled batches), so the same code that reads the real datasets reads them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch

from genimg.data import load_dataset, standard
from genimg.data.download import cache_dir, fetch
from genimg.errors import UserError

pytestmark = pytest.mark.timeout(60)


# ---------------------------------------------------------------------------- tiny datasets in real formats


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def tiny_mnist():
    """12 training and 4 test images of 28x28, as the four official gzipped IDX files."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": np.arange(12, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": np.array([3, 1, 4, 1], dtype=np.uint8),
    }
    files = {name: gzip.compress(idx_bytes(a), mtime=0) for name, a in arrays.items()}
    return arrays, files


def cifar_batch(images: np.ndarray, labels: list[int]) -> bytes:
    # Protocol 2 with bytes keys, like the official batches read with encoding="bytes".
    return pickle.dumps(
        {b"batch_label": b"tiny", b"labels": labels, b"data": images.reshape(len(images), -1)}, protocol=2
    )


def tar_bytes(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def tiny_cifar():
    """Five training batches of 3 images and a test batch of 2, as cifar-10-python.tar.gz members."""
    rng = np.random.default_rng(1)
    train = rng.integers(0, 256, (15, 3, 32, 32), dtype=np.uint8)
    train_labels = [i % 10 for i in range(15)]
    test = rng.integers(0, 256, (2, 3, 32, 32), dtype=np.uint8)
    test_labels = [7, 2]
    members = {
        f"cifar-10-batches-py/data_batch_{b + 1}": cifar_batch(
            train[3 * b : 3 * b + 3], train_labels[3 * b : 3 * b + 3]
        )
        for b in range(5)
    }
    members["cifar-10-batches-py/test_batch"] = cifar_batch(test, test_labels)
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": [b"airplane"]}, protocol=2)
    return {"train": train, "train_labels": train_labels, "test": test, "test_labels": test_labels, "members": members}


# ---------------------------------------------------------------------------- a local HTTP server


class FileServer:
    """Serves ``routes``: path -> (behaviour, payload); behaviour is ok, status, truncate or stall."""

    def __init__(self):
        self.routes: dict[str, tuple[str, object]] = {}
        self.requests: list[str] = []
        self.release = threading.Event()
        server_self = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server_self.requests.append(self.path)
                behaviour, payload = server_self.routes.get(self.path, ("status", 404))
                if behaviour == "status":
                    self.send_error(payload)
                elif behaviour == "ok":
                    self._send(payload, len(payload))
                elif behaviour == "truncate":  # promise the whole body, send half, hang up
                    self._send(payload[: len(payload) // 2], len(payload))
                    self.close_connection = True
                elif behaviour == "stall":  # accept, then say nothing until the test ends
                    server_self.release.wait(10)

            def _send(self, body: bytes, length: int):
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):  # keep pytest's output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def serve(self, folder: str, files: dict[str, bytes], behaviour: str = "ok"):
        for name, data in files.items():
            self.routes[f"/{folder}/{name}"] = (behaviour, data)

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_proxy_for_localhost(monkeypatch):
    # urllib honours http_proxy; requests to the test server must not be sent through one.
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.stop()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    path = tmp_path / "cache"
    monkeypatch.setenv("GENIMG_CACHE", str(path))
    return path


def cached_files(cache) -> list[str]:
    """Every file in the cache, temporary ones included."""
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


@pytest.fixture
def mnist_online(server, cache, tiny_mnist, monkeypatch):
    """mnist pointed at the local server, with the tiny files' checksums and a 2-image validation split."""
    arrays, files = tiny_mnist
    server.serve("mnist", files)
    monkeypatch.setitem(standard.MIRRORS, "mnist", [server.base + "/mnist/"])
    monkeypatch.setitem(standard.CHECKSUMS, "mnist", {name: sha(data) for name, data in files.items()})
    monkeypatch.setitem(standard.VALIDATION_SIZE, "mnist", 2)
    return arrays, files


# ---------------------------------------------------------------------------- success


def test_mnist_downloads_and_loads_every_split(mnist_online, server, cache):
    arrays, _ = mnist_online
    train = load_dataset("mnist", "train")
    val = load_dataset("mnist", "val")
    test = load_dataset("mnist", "test")

    assert train.images.shape == (10, 1, 28, 28) and val.images.shape == (2, 1, 28, 28)
    assert test.images.shape == (4, 1, 28, 28)
    assert train.images.dtype == torch.float32 and train.levels == 256 and train.num_classes == 10
    all_train = arrays["train-images-idx3-ubyte.gz"]
    # Exactly k/255, in file order: first 10 are train, last 2 are val.
    assert torch.equal(train.pixel_indices()[:, 0], torch.from_numpy(all_train[:10]).long())
    assert torch.equal(val.pixel_indices()[:, 0], torch.from_numpy(all_train[10:]).long())
    assert torch.equal(test.pixel_indices()[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"]).long())
    assert train.labels.tolist() == list(range(10))
    assert val.labels.tolist() == [0, 1] and test.labels.tolist() == [3, 1, 4, 1]

    files = cached_files(cache)
    assert "mnist/train-images-idx3-ubyte.gz" in files and "mnist/t10k-labels-idx1-ubyte.gz" in files
    assert not [f for f in files if f.endswith((".part", ".tmp"))]
    # Each file was fetched once; the val split reused the cache.
    assert sorted(server.requests) == sorted(f"/mnist/{name}" for name in mnist_online[1])


def test_second_load_uses_no_network(mnist_online, server):
    first = load_dataset("mnist", "train")
    count = len(server.requests)
    server.routes.clear()  # any request now gets a 404
    second = load_dataset("mnist", "train")
    assert len(server.requests) == count
    assert torch.equal(first.images, second.images)


def test_mirror_from_environment_variable(server, cache, tiny_mnist, monkeypatch):
    _, files = tiny_mnist
    server.serve("elsewhere", files)
    monkeypatch.setitem(standard.MIRRORS, "mnist", ["http://127.0.0.1:9/never-used/"])
    monkeypatch.setenv("GENIMG_MIRROR_MNIST", f"{server.base}/elsewhere/")
    monkeypatch.setitem(standard.CHECKSUMS, "mnist", {name: sha(data) for name, data in files.items()})
    monkeypatch.setitem(standard.VALIDATION_SIZE, "mnist", 2)
    assert len(load_dataset("mnist", "test")) == 4
    assert all(r.startswith("/elsewhere/") for r in server.requests)


def test_cifar10_downloads_and_loads(server, cache, tiny_cifar, monkeypatch):
    tarball = tar_bytes(tiny_cifar["members"])
    server.serve("cifar", {"cifar-10-python.tar.gz": tarball})
    monkeypatch.setitem(standard.MIRRORS, "cifar10", [server.base + "/cifar"])
    monkeypatch.setitem(standard.CHECKSUMS, "cifar10", {"cifar-10-python.tar.gz": sha(tarball)})
    monkeypatch.setitem(standard.VALIDATION_SIZE, "cifar10", 3)

    train, val, test = (load_dataset("cifar10", s) for s in ("train", "val", "test"))
    assert train.images.shape == (12, 3, 32, 32) and val.images.shape == (3, 3, 32, 32)
    assert test.images.shape == (2, 3, 32, 32)
    assert torch.equal(train.pixel_indices(), torch.from_numpy(tiny_cifar["train"][:12]).long())
    assert torch.equal(val.pixel_indices(), torch.from_numpy(tiny_cifar["train"][12:]).long())
    assert torch.equal(test.pixel_indices(), torch.from_numpy(tiny_cifar["test"]).long())
    assert train.labels.tolist() == tiny_cifar["train_labels"][:12] and test.labels.tolist() == [7, 2]
    assert train.class_names[0] == "airplane" and train.levels == 256
    assert server.requests == ["/cifar/cifar-10-python.tar.gz"]
    assert not [f for f in cached_files(cache) if f.endswith((".part", ".tmp"))]


def test_falls_back_to_the_next_mirror(server, cache):
    payload = b"payload" * 100
    server.routes["/a/f.bin"] = ("status", 500)
    server.routes["/b/f.bin"] = ("ok", payload)
    path = fetch([f"{server.base}/a/f.bin", f"{server.base}/b/f.bin"], "x/f.bin", sha(payload), progress=False)
    assert path == cache / "x" / "f.bin" and path.read_bytes() == payload
    assert server.requests == ["/a/f.bin", "/b/f.bin"]


def test_corrupted_cached_file_is_downloaded_again(server, cache):
    payload = b"good bytes" * 50
    server.routes["/f.bin"] = ("ok", payload)
    (cache / "x").mkdir(parents=True)
    (cache / "x" / "f.bin").write_bytes(b"stale or damaged")
    path = fetch(f"{server.base}/f.bin", "x/f.bin", sha(payload), progress=False)
    assert path.read_bytes() == payload and server.requests == ["/f.bin"]


# ---------------------------------------------------------------------------- failures leave nothing behind


def assert_nothing_cached(cache):
    assert cached_files(cache) == [], "a failed download left a file in the cache"


def test_checksum_mismatch(mnist_online, cache, monkeypatch):
    wrong = {name: sha(b"something else") for name in mnist_online[1]}
    monkeypatch.setitem(standard.CHECKSUMS, "mnist", wrong)
    with pytest.raises(UserError) as err:
        load_dataset("mnist", "train")
    message = str(err.value)
    assert "checksum mismatch" in message and sha(b"something else") in message
    assert sha(mnist_online[1]["train-images-idx3-ubyte.gz"]) in message  # what was received
    assert "removed" in message and "data.root=DIR" in message and "\n" not in message
    assert_nothing_cached(cache)


def test_truncated_download(mnist_online, server, cache):
    server.serve("mnist", mnist_online[1], behaviour="truncate")
    with pytest.raises(UserError, match="truncated download") as err:
        load_dataset("mnist", "train")
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    assert_nothing_cached(cache)


@pytest.mark.parametrize("status", [500, 404])
def test_server_error(mnist_online, server, cache, status):
    server.serve("mnist", dict.fromkeys(mnist_online[1], status), behaviour="status")
    with pytest.raises(UserError, match=f"HTTP {status}") as err:
        load_dataset("mnist", "test")
    assert "data.root=DIR" in str(err.value)
    assert_nothing_cached(cache)


def test_all_mirrors_failing_reports_each(server, cache):
    server.routes["/a/f.bin"] = ("status", 503)
    server.routes["/b/f.bin"] = ("truncate", b"0123456789" * 10)
    urls = [f"{server.base}/a/f.bin", f"{server.base}/b/f.bin"]
    with pytest.raises(UserError) as err:
        fetch(urls, "x/f.bin", sha(b"0123456789" * 10), progress=False)
    message = str(err.value)
    assert urls[0] in message and "HTTP 503" in message
    assert urls[1] in message and "truncated download (50 of 100 bytes" in message
    assert_nothing_cached(cache)


def test_connection_refused(cache):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match="connection refused"):
        fetch(f"http://127.0.0.1:{port}/f.bin", "x/f.bin", sha(b""), progress=False)
    assert_nothing_cached(cache)


def test_timeout(server, cache):
    server.routes["/slow.bin"] = ("stall", None)
    with pytest.raises(UserError, match="timed out"):
        fetch(f"{server.base}/slow.bin", "x/slow.bin", sha(b""), timeout=0.3, progress=False)
    assert_nothing_cached(cache)


def test_cache_directory_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GENIMG_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GENIMG_CACHE")
    assert cache_dir() == __import__("pathlib").Path.home() / ".cache" / "genimg"


# ---------------------------------------------------------------------------- local copies (data.root)


@pytest.fixture
def offline(cache, monkeypatch):
    """Any download attempt fails loudly: with a root, nothing may be fetched."""
    for name in standard.MIRRORS:
        monkeypatch.setitem(standard.MIRRORS, name, ["http://127.0.0.1:9/"])
    monkeypatch.setitem(standard.VALIDATION_SIZE, "mnist", 2)
    monkeypatch.setitem(standard.VALIDATION_SIZE, "fashion-mnist", 2)
    monkeypatch.setitem(standard.VALIDATION_SIZE, "cifar10", 3)


@pytest.mark.parametrize("layout", ["gzipped", "plain", "torchvision"])
def test_mnist_from_local_root(tmp_path, tiny_mnist, offline, layout):
    arrays, files = tiny_mnist
    folder = tmp_path / "data"
    if layout == "torchvision":
        folder = folder / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    for name, data in files.items():
        if layout == "gzipped":
            (folder / name).write_bytes(data)
        else:
            (folder / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    test = load_dataset("fashion-mnist", "test", root=str(tmp_path / "data"))
    assert torch.equal(test.pixel_indices()[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"]).long())
    assert test.class_names[9] == "Ankle boot"
    assert len(load_dataset("fashion-mnist", "val", root=str(tmp_path / "data"))) == 2


def test_missing_local_file_names_it(tmp_path, offline):
    with pytest.raises(UserError, match=r"train-images-idx3-ubyte\.gz .*not found.*unset data\.root"):
        load_dataset("mnist", "train", root=str(tmp_path))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda raw: b"\x01\x02" + raw[2:], "bad magic number"),
        (lambda raw: raw[:-5], "IDX header promises shape"),
        (lambda raw: raw[:2] + b"\x0d" + raw[3:], "unexpected IDX header"),
    ],
)
def test_corrupt_idx_is_a_user_error_naming_the_file(tmp_path, tiny_mnist, offline, damage, message):
    _, files = tiny_mnist
    for name, data in files.items():
        (tmp_path / name.removesuffix(".gz")).write_bytes(gzip.decompress(data))
    target = tmp_path / "t10k-images-idx3-ubyte"
    target.write_bytes(damage(target.read_bytes()))
    with pytest.raises(UserError, match=message) as err:
        load_dataset("mnist", "test", root=str(tmp_path))
    assert str(target) in str(err.value)


def test_damaged_gzip_is_a_user_error(tmp_path, tiny_mnist, offline):
    _, files = tiny_mnist
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(files["t10k-labels-idx1-ubyte.gz"][:20])
    with pytest.raises(UserError, match=r"t10k-labels-idx1-ubyte\.gz: damaged gzip"):
        load_dataset("mnist", "test", root=str(tmp_path))


@pytest.mark.parametrize("layout", ["tarball", "extracted", "batches-in-root"])
def test_cifar10_from_local_root(tmp_path, tiny_cifar, offline, layout):
    root = tmp_path / "root"
    if layout == "tarball":
        root.mkdir()
        (root / "cifar-10-python.tar.gz").write_bytes(tar_bytes(tiny_cifar["members"]))
    else:
        for member, data in tiny_cifar["members"].items():
            path = root / member if layout == "extracted" else root / member.split("/")[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    val = load_dataset("cifar10", "val", root=str(root))
    assert torch.equal(val.pixel_indices(), torch.from_numpy(tiny_cifar["train"][12:]).long())
    assert val.labels.tolist() == tiny_cifar["train_labels"][12:]


def test_hostile_tarball_members_are_never_written(tmp_path, tiny_cifar, cache, offline):
    root = tmp_path / "root"
    root.mkdir()
    members = {"../evil": b"escaped", "cifar-10-batches-py/../../evil2": b"escaped", **tiny_cifar["members"]}
    links = {"cifar-10-batches-py/readme.html": "/etc/passwd", "../evil-link": "/etc/passwd"}
    (root / "cifar-10-python.tar.gz").write_bytes(tar_bytes(members, links))

    def outside_cache():
        return sorted(p for p in tmp_path.rglob("*") if p != cache and cache not in p.parents)

    before = outside_cache()
    test = load_dataset("cifar10", "test", root=str(root))
    assert len(test) == 2
    assert outside_cache() == before  # nothing was extracted anywhere
    for name in ("evil", "evil2", "evil-link"):
        assert not (tmp_path / name).exists() and not (tmp_path.parent / name).exists()


def test_linked_batch_in_tarball_is_rejected(tmp_path, tiny_cifar, offline):
    root = tmp_path / "root"
    root.mkdir()
    members = {k: v for k, v in tiny_cifar["members"].items() if not k.endswith("test_batch")}
    links = {"cifar-10-batches-py/test_batch": "/etc/passwd"}
    (root / "cifar-10-python.tar.gz").write_bytes(tar_bytes(members, links))
    with pytest.raises(UserError, match="test_batch is a link"):
        load_dataset("cifar10", "test", root=str(root))


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_pickle_cannot_run_code(tmp_path, offline):
    marker = tmp_path / "code-ran"
    batches = tmp_path / "root" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    (batches / "test_batch").write_bytes(pickle.dumps({b"data": _RunsCode(marker), b"labels": [0]}, protocol=2))
    with pytest.raises(UserError, match="refusing to unpickle"):
        load_dataset("cifar10", "test", root=str(tmp_path / "root"))
    assert not marker.exists()


def test_cifar_batch_with_wrong_shape_names_it(tmp_path, offline):
    batches = tmp_path / "root" / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    bad = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (batches / "test_batch").write_bytes(pickle.dumps(bad, protocol=2))
    with pytest.raises(UserError, match=r"test_batch: expected uint8 data of shape \(N, 3072\)"):
        load_dataset("cifar10", "test", root=str(tmp_path / "root"))


def test_decoded_cache_is_refreshed_when_the_file_changes(tmp_path, tiny_mnist, offline):
    arrays, files = tiny_mnist
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    first = load_dataset("mnist", "test", root=str(tmp_path))
    flipped = 255 - arrays["t10k-images-idx3-ubyte.gz"]
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(flipped)))
    os.utime(tmp_path / "t10k-images-idx3-ubyte.gz", ns=(1, 1))  # a different mtime, whatever the clock
    second = load_dataset("mnist", "test", root=str(tmp_path))
    assert torch.allclose(second.images, 1 - first.images)


def test_damaged_decoded_cache_is_rebuilt(tmp_path, tiny_mnist, cache, offline):
    arrays, files = tiny_mnist
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    load_dataset("mnist", "test", root=str(tmp_path))
    (entry,) = (cache / "decoded").glob("mnist-test-*.npz")
    entry.write_bytes(entry.read_bytes()[:100])  # as if the disk filled up mid-write elsewhere
    again = load_dataset("mnist", "test", root=str(tmp_path))
    assert torch.equal(again.pixel_indices()[:, 0], torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"]).long())
