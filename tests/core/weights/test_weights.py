"""Known-model downloads against a local HTTP server on 127.0.0.1: good, corrupt, dropped and
resumed, no Range support, 404, unreachable. Plus the manifest itself."""

from __future__ import annotations

import hashlib
import http.server
import os
import socket
import threading
from dataclasses import replace

import pytest

from soundclip_core.cli import main
from soundclip_core.errors import WeightsError
from soundclip_core.weights import KIND_FOLDERS, WeightEntry, checked, ensure, ensure_all, load_manifest, verify
from soundclip_core.weights.download import download

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB


class Handler(http.server.BaseHTTPRequestHandler):
    mode = "ok"  # ok | drop_once | no_range
    requests: list[str | None] = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.requests.append(self.headers.get("Range"))
        if self.path != "/model.pt":
            self.send_error(404)
            return
        start = 0
        if self.headers.get("Range") and Handler.mode != "no_range":
            start = int(self.headers["Range"].split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if Handler.mode in ("drop_once", "no_range") and len(Handler.requests) == 1:
            self.wfile.write(body[: len(body) // 3])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    Handler.mode, Handler.requests = "ok", []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def entry(url: str, sha: str | None = hashlib.sha256(PAYLOAD).hexdigest()) -> WeightEntry:
    return WeightEntry(id="test-model", kind="stylegan2", format="rosinality-pt", filename="model.pt",
                       urls=(url,), sha256=sha, size=len(PAYLOAD))


def test_good_download_with_progress(server, tmp_path):
    seen = []
    path = download(entry(f"{server}/model.pt"), tmp_path / "model.pt", lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == PAYLOAD and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert not (tmp_path / "model.pt.part").exists()


def test_wrong_checksum_leaves_nothing(server, tmp_path):
    with pytest.raises(WeightsError, match="sha256 mismatch") as error:
        download(entry(f"{server}/model.pt", sha="0" * 64), tmp_path / "model.pt")
    assert f"{server}/model.pt" in str(error.value) and "model.pt" in str(error.value)
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_resumes_with_range(server, tmp_path):
    Handler.mode = "drop_once"
    path = download(entry(f"{server}/model.pt"), tmp_path / "model.pt")
    assert path.read_bytes() == PAYLOAD
    assert Handler.requests[0] is None and Handler.requests[1] == f"bytes={len(PAYLOAD) // 3}-"


def test_server_without_range_support_restarts_cleanly(server, tmp_path):
    Handler.mode = "no_range"
    assert download(entry(f"{server}/model.pt"), tmp_path / "model.pt").read_bytes() == PAYLOAD


def test_404_and_unreachable_server_give_clear_errors(server, tmp_path):
    with pytest.raises(WeightsError, match="HTTP 404"):
        download(entry(f"{server}/missing.pt"), tmp_path / "model.pt")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(WeightsError, match="by hand"):
        download(entry(f"http://127.0.0.1:{closed_port}/model.pt"), tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def test_ensure_uses_local_files_search_dirs_and_the_cache(server, tmp_path, monkeypatch):
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"models": [{"id": "test-model", "kind": "stylegan2", "format": "rosinality-pt", '
                        f'"filename": "model.pt", "urls": ["{server}/model.pt"], '
                        f'"sha256": "{hashlib.sha256(PAYLOAD).hexdigest()}", "size": {len(PAYLOAD)}}}]}}')
    monkeypatch.setenv("SOUNDCLIP_MANIFEST", str(manifest))
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "home"))
    local = tmp_path / "mine.pt"
    local.write_bytes(b"x")
    assert ensure(local) == local
    comfy_dir = tmp_path / "comfy_models"
    path = ensure("test-model", kind="stylegan2", search_dirs=[comfy_dir])
    assert path == comfy_dir / "model.pt" and path.read_bytes() == PAYLOAD
    assert len(Handler.requests) == 1
    assert ensure("test-model", search_dirs=[comfy_dir]) == path and len(Handler.requests) == 1  # no re-download
    cached = ensure("test-model")
    assert cached == tmp_path / "home" / KIND_FOLDERS["stylegan2"] / "model.pt"
    assert verify("test-model") == "ok"
    cached.write_bytes(b"corrupted" + PAYLOAD[9:])
    assert verify("test-model") == "corrupt"
    with pytest.raises(WeightsError, match="clip"):
        ensure("test-model", kind="clip")
    with pytest.raises(WeightsError, match="unknown model id 'test-modl'; did you mean test-model"):
        ensure("test-modl")
    with pytest.raises(WeightsError, match="file not found"):
        ensure(tmp_path / "nothing.pt")


def test_models_we_cannot_read_are_never_downloaded(server, tmp_path, monkeypatch):
    """A TF-era pickle listed for reference must not land under the name of its conversion."""
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"models": [{"id": "tf-model", "kind": "stylegan2", "format": "tf-pkl", '
                        f'"filename": "converted.pt", "urls": ["{server}/model.pt"], "sha256": null, "size": null, '
                        '"loadable": false, "notes": "TensorFlow pickle: convert it to a rosinality .pt"}]}')
    monkeypatch.setenv("SOUNDCLIP_MANIFEST", str(manifest))
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "home"))
    with pytest.raises(WeightsError, match=r"cannot read yet \(TensorFlow pickle.*put a file soundclip reads at "
                                           r".*converted.pt"):
        ensure("tf-model", search_dirs=[tmp_path / "models"])
    assert not Handler.requests and not (tmp_path / "models").exists()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "converted.pt").write_bytes(b"x")  # once converted, the id finds it
    assert ensure("tf-model", search_dirs=[tmp_path / "models"]) == tmp_path / "models" / "converted.pt"


def test_shipped_manifest_is_complete_and_honest():
    entries = load_manifest()
    ids = {e.id for e in entries}
    assert {"landscape-256", "soundclip-resnet18", "ffhq-1024", "metfaces-1024", "wav2clip", "audioclip-partial",
            "audioclip-full", "clip-vit-b-32", "clip-rn50", "arcface-ir-se50", "wikiart-1024", "lhq-1024"} <= ids
    assert {e.kind for e in entries} == set(KIND_FOLDERS)
    for e in entries:
        assert e.urls and all(u.startswith("https://") for u in e.urls), e.id
        assert e.license and e.source, e.id
    clip = {e.id: e for e in entries}["clip-vit-b-32"]
    assert clip.sha256 in clip.urls[0]  # OpenAI publishes the checksum in the URL


def test_bad_manifest_is_refused(tmp_path):
    good = load_manifest()[0]
    path = tmp_path / "m.json"
    import json
    from dataclasses import asdict

    twice = [asdict(replace(good, urls=list(good.urls)))] * 2
    path.write_text(json.dumps({"models": twice}))
    with pytest.raises(WeightsError, match="duplicate id"):
        load_manifest(path)
    path.write_text("{not json")
    with pytest.raises(WeightsError, match="cannot read"):
        load_manifest(path)


LICENCE = "Creative Commons Attribution-NonCommercial 4.0, research use only, see the model card"


def write_manifest(tmp_path, monkeypatch, server, names=("a", "b", "c")):
    """A manifest of known models `name` served at /model.pt (c at a missing URL), cache under tmp_path/home."""
    import json

    models = [{"id": f"model-{n}", "kind": "stylegan2" if n != "b" else "clip", "format": "rosinality-pt",
               "filename": f"{n}.pt", "urls": [f"{server}/{'model' if n != 'c' else 'gone'}.pt"],
               "sha256": hashlib.sha256(PAYLOAD).hexdigest(), "size": len(PAYLOAD), "license": LICENCE}
              for n in names]
    (tmp_path / "manifest.json").write_text(json.dumps({"models": models}))
    monkeypatch.setenv("SOUNDCLIP_MANIFEST", str(tmp_path / "manifest.json"))
    monkeypatch.setenv("SOUNDCLIP_HOME", str(tmp_path / "home"))


def test_ensure_all_names_every_missing_model_before_downloading_any(server, tmp_path, monkeypatch):
    write_manifest(tmp_path, monkeypatch, server)
    local = tmp_path / "mine.pt"
    local.write_bytes(b"x")
    requests = [("model-a", "stylegan2"), None, ("model-b", "clip"), (local, "stylegan2")]
    with pytest.raises(WeightsError) as error:
        ensure_all(requests, download_missing=False)
    message = str(error.value)
    assert "2 models are missing" in message
    for name, folder in (("a", "stylegan2"), ("b", "clip_soundclip")):
        assert f"'model-{name}' is not downloaded" in message
        assert f"{server}/model.pt into {tmp_path / 'home' / folder}" in message
    assert not Handler.requests
    # an unusable request stops everything before the first download, and is named with the others
    with pytest.raises(WeightsError) as error:
        ensure_all([("model-a", "stylegan2"), ("model-x", "clip"), ("model-b", "stylegan2")])
    assert "unknown model id 'model-x'" in str(error.value) and "'model-b' is a clip model" in str(error.value)
    assert not Handler.requests and not (tmp_path / "home").exists()
    paths = ensure_all(requests, search_dirs={"clip": [tmp_path / "clips"]})
    assert paths == [tmp_path / "home" / "stylegan2" / "a.pt", None, tmp_path / "clips" / "b.pt", local]
    assert all(p.read_bytes() == PAYLOAD for p in paths[:3] if p and p != local) and len(Handler.requests) == 2


def test_ensure_all_tries_every_download_and_reports_the_failures_together(server, tmp_path, monkeypatch):
    write_manifest(tmp_path, monkeypatch, server)
    with pytest.raises(WeightsError) as error:
        ensure_all([("model-c", None), ("model-a", None)])
    assert "could not download 'model-c'" in str(error.value) and "HTTP 404" in str(error.value)
    assert (tmp_path / "home" / "stylegan2" / "a.pt").read_bytes() == PAYLOAD  # tried after c failed
    assert ensure_all([("model-a", "stylegan2")]) == [tmp_path / "home" / "stylegan2" / "a.pt"]


def test_weights_download_tries_every_id_and_reports_each(server, tmp_path, monkeypatch, capsys):
    write_manifest(tmp_path, monkeypatch, server)
    assert main(["weights", "download", "model-c"]) == 1
    assert "model-c: failed:" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()  # a failed download leaves no empty folders, no .part
    assert main(["weights", "download", "model-a", "model-c", "model-b"]) == 1
    captured = capsys.readouterr()
    assert "HTTP 404" in captured.err and "1 of 3 downloads failed: model-c" in captured.err
    assert f"model-b: {tmp_path / 'home' / 'clip_soundclip' / 'b.pt'}" in captured.out
    assert (tmp_path / "home" / "stylegan2" / "a.pt").read_bytes() == PAYLOAD
    assert sorted(p.name for p in (tmp_path / "home" / "stylegan2").iterdir()) == ["a.pt"]


def test_weights_list_has_a_header_and_the_whole_licence(server, tmp_path, monkeypatch, capsys):
    write_manifest(tmp_path, monkeypatch, server, names=("a",))
    assert main(["weights", "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "KIND", "FILE", "SIZE", "STATUS", "FOLDER", "LICENCE"]
    assert row.split()[:5] == ["model-a", "stylegan2", "a.pt", "1", "MB"]
    assert str(tmp_path / "home" / "stylegan2") in row and row.endswith(LICENCE)


def test_weights_verify_says_when_nothing_is_present(tmp_path, monkeypatch, capsys):
    write_manifest(tmp_path, monkeypatch, "http://127.0.0.1:9")
    assert main(["weights", "verify"]) == 0
    assert "no known models are present" in capsys.readouterr().out


def test_a_hand_placed_known_file_is_checked_once(tmp_path, monkeypatch):
    write_manifest(tmp_path, monkeypatch, "http://127.0.0.1:9")
    placed = tmp_path / "home" / "stylegan2" / "a.pt"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(PAYLOAD[::-1])  # right size, wrong content
    with pytest.raises(WeightsError, match=r"a.pt: does not match the published sha256 of 'model-a'.*Fix: delete "
                                           r"it and run `soundclip weights download model-a`"):
        ensure("model-a")
    placed.write_bytes(PAYLOAD[:1000])
    with pytest.raises(WeightsError, match="is 1000 bytes, but 'model-a' is 1048576 bytes"):
        ensure("model-a")
    placed.write_bytes(PAYLOAD)
    hashed = []
    monkeypatch.setattr(checked, "sha256_of", lambda path: hashed.append(path) or hashlib.sha256(PAYLOAD).hexdigest())
    assert ensure("model-a") == placed and ensure("model-a") == placed and hashed == [placed]  # once, then cached
    os.utime(placed, ns=(0, 0))  # touched (a new copy): checked again
    assert ensure("model-a") == placed and len(hashed) == 2
