"""ptm against a Hub mirror on loopback, through the real download code of huggingface_hub and transformers.

A small HTTP server imitates the part of the Hub API that huggingface_hub 2.4 and transformers 5.25
use to fetch a tokenizer, so these tests cover what users get with HF_ENDPOINT set to a mirror:
  GET  /api/models/{repo_id}[/revision/{revision}]       repository info, read for its commit "sha"
  GET  /api/models/{repo_id}/tree/{revision}[/{path}]    file listing
  HEAD /{repo_id}/resolve/{revision}/{filename}          ETag, X-Repo-Commit and Content-Length
  GET  /{repo_id}/resolve/{revision}/{filename}          file content
Missing repositories, revisions and files get a 404 with the Hub's X-Error-Code header, which
huggingface_hub turns into RepositoryNotFoundError, RevisionNotFoundError and RemoteEntryNotFoundError.
"""

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from ptmcli.packs.catalog import BUILTIN_DIR

REPO_ID = "mirror-org/bert-chinese-tok"
MISSING_REPO_ID = "mirror-org/no-such-model"
CHINESE_TEXT = "我来自中国"
CHINESE_IDS = [101, 2769, 3341, 5632, 704, 1744, 102]
MIXED_TEXT = "我爱NLP"
# The vocabulary has "n" and "##lp" but no upper-case pieces, so "NLP" is [UNK] unless v2 lower-cases it.
MIXED_IDS_MAIN = [101, 2769, 4263, 100, 102]
MIXED_IDS_LOWER_CASE = [101, 2769, 4263, 156, 10986, 102]
OFFLINE_COPY_NOTICE = "offline copy"


def _fake_commit_hash(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def _git_blob_hash(content: bytes) -> str:
    # The Hub sends a regular (non-LFS) file's git blob id as its ETag.
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


MAIN_COMMIT = _fake_commit_hash("main")
V2_COMMIT = _fake_commit_hash("v2")


@dataclass(frozen=True)
class RepoRevision:
    """One commit of a mirrored repository: its hash and its files by name."""

    commit: str
    files: dict[str, bytes]


def _bert_chinese_revisions() -> dict[str, RepoRevision]:
    """Build branch main (the original tokenizer) and tag v2 (the same vocabulary with do_lower_case true)."""
    folder = BUILTIN_DIR / "bert-base-chinese"
    vocab = (folder / "vocab.txt").read_bytes()
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    lower_case_config = {**config, "do_lower_case": True}
    main = RepoRevision(MAIN_COMMIT, {"vocab.txt": vocab, "tokenizer_config.json": json.dumps(config).encode()})
    v2 = RepoRevision(V2_COMMIT, {"vocab.txt": vocab,
                                  "tokenizer_config.json": json.dumps(lower_case_config).encode()})
    # A commit hash is a valid revision too, and transformers requests files by commit once it has resolved one.
    return {"main": main, "v2": v2, MAIN_COMMIT: main, V2_COMMIT: v2}


class HubMirrorServer(ThreadingHTTPServer):
    """A loopback server with the mirrored repositories, a log of each (method, path) it receives
    and a count of accepted TCP connections, which includes ptm's reachability probe."""

    daemon_threads = True

    def __init__(self, repos: dict[str, dict[str, RepoRevision]]):
        super().__init__(("127.0.0.1", 0), HubMirrorHandler)
        self.repos = repos
        self.request_log: list[tuple[str, str]] = []
        self.connection_count = 0

    def verify_request(self, request, client_address) -> bool:
        # Called once per accepted connection, before a handler thread reads the request.
        self.connection_count += 1
        return True

    @property
    def endpoint(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class HubMirrorHandler(BaseHTTPRequestHandler):
    # Patterns match the raw path because huggingface_hub percent-encodes a revision such as refs/pr/1.
    REVISION_INFO = re.compile(r"/api/models/(?P<repo>[^/]+(?:/[^/]+)?)/revision/(?P<revision>[^/]+)")
    TREE = re.compile(r"/api/models/(?P<repo>[^/]+(?:/[^/]+)?)/tree/(?P<revision>[^/]+)(?:/(?P<path>.+))?")
    INFO = re.compile(r"/api/models/(?P<repo>[^/]+(?:/[^/]+)?)")
    RESOLVE = re.compile(r"/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<revision>[^/]+)/(?P<filename>.+)")

    server: HubMirrorServer

    def do_HEAD(self) -> None:
        self._route(send_body=False)

    def do_GET(self) -> None:
        self._route(send_body=True)

    def log_message(self, format: str, *args) -> None:
        # The request log replaces the default access log on stderr, which pytest would mix into ptm's stderr.
        pass

    def _route(self, send_body: bool) -> None:
        path = urlsplit(self.path).path
        self.server.request_log.append((self.command, path))
        if match := self.REVISION_INFO.fullmatch(path):
            self._send_info(unquote(match["repo"]), unquote(match["revision"]), send_body)
        elif match := self.TREE.fullmatch(path):
            self._send_tree(unquote(match["repo"]), unquote(match["revision"]), unquote(match["path"] or ""),
                            send_body)
        elif match := self.INFO.fullmatch(path):
            self._send_info(unquote(match["repo"]), "main", send_body)
        elif match := self.RESOLVE.fullmatch(path):
            self._send_file(unquote(match["repo"]), unquote(match["revision"]), unquote(match["filename"]),
                            send_body)
        else:
            self._send(404, {}, b"Not Found", send_body)

    def _find_revision(self, repo_id: str, revision: str, send_body: bool) -> RepoRevision | None:
        """Return the revision, or send the Hub's 404 for a missing repository or revision and return None."""
        revisions = self.server.repos.get(repo_id)
        if revisions is None:
            self._send_error_code("RepoNotFound", "Repository not found", send_body)
            return None
        if revision not in revisions:
            self._send_error_code("RevisionNotFound", f"Invalid rev id: {revision}", send_body)
            return None
        return revisions[revision]

    def _send_info(self, repo_id: str, revision: str, send_body: bool) -> None:
        found = self._find_revision(repo_id, revision, send_body)
        if found is None:
            return
        info = {"id": repo_id, "modelId": repo_id, "sha": found.commit, "private": False, "tags": [],
                "siblings": [{"rfilename": name} for name in sorted(found.files)]}
        self._send_json(info, {}, send_body)

    def _send_tree(self, repo_id: str, revision: str, folder: str, send_body: bool) -> None:
        found = self._find_revision(repo_id, revision, send_body)
        if found is None:
            return
        # The mirrored repositories have no subfolders, so only the root folder has entries.
        if folder:
            self._send_error_code("EntryNotFound", f"{folder} does not exist on \"{revision}\"", send_body,
                                  commit=found.commit)
            return
        entries = [{"type": "file", "path": name, "oid": _git_blob_hash(content), "size": len(content)}
                   for name, content in sorted(found.files.items())]
        self._send_json(entries, {}, send_body)

    def _send_file(self, repo_id: str, revision: str, filename: str, send_body: bool) -> None:
        found = self._find_revision(repo_id, revision, send_body)
        if found is None:
            return
        content = found.files.get(filename)
        if content is None:
            # The commit header lets huggingface_hub record the missing file in the cache (.no_exist).
            self._send_error_code("EntryNotFound", "Entry not found", send_body, commit=found.commit)
            return
        headers = {"Content-Type": "application/octet-stream", "ETag": f'"{_git_blob_hash(content)}"',
                   "X-Repo-Commit": found.commit}
        self._send(200, headers, content, send_body)

    def _send_error_code(self, code: str, message: str, send_body: bool, commit: str | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message}
        if commit is not None:
            headers["X-Repo-Commit"] = commit
        self._send_json({"error": message}, headers, send_body, status=404)

    def _send_json(self, value, headers: dict[str, str], send_body: bool, status: int = 200) -> None:
        self._send(status, {"Content-Type": "application/json", **headers}, json.dumps(value).encode(), send_body)

    def _send(self, status: int, headers: dict[str, str], body: bytes, send_body: bool) -> None:
        # A HEAD reply carries the Content-Length of the body it leaves out, which huggingface_hub reads as the size.
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def _use_endpoint(monkeypatch, endpoint: str) -> None:
    """Point ptm, huggingface_hub and transformers at another Hub endpoint for one test."""
    from huggingface_hub import constants
    from transformers.utils import hub as transformers_hub

    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    # huggingface_hub copies HF_ENDPOINT into these constants when it is imported.
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    # transformers keeps one HfApi, which fixes its endpoint when it is created, so a new one is made.
    monkeypatch.setattr(transformers_hub, "_hf_api", None)


def _use_cache(monkeypatch, hf_home: Path) -> None:
    """Give huggingface_hub an empty HF_HOME, whose paths it also reads only at import time."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _cache_manager as cache_manager

    monkeypatch.setenv("HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HOME", str(hf_home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    monkeypatch.setattr(constants, "HF_ASSETS_CACHE", str(hf_home / "assets"))
    monkeypatch.setattr(constants, "HF_XET_CACHE", str(hf_home / "xet"))
    monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(hf_home / ".agent_harnesses.json"))
    # scan_cache_dir, behind 'ptm models list', imported its own copy of HF_HUB_CACHE.
    monkeypatch.setattr(cache_manager, "HF_HUB_CACHE", str(hf_home / "hub"))


@dataclass
class Mirror:
    """A running mirror server and the HF_HOME that a test downloads into."""

    server: HubMirrorServer
    hf_home: Path
    thread: threading.Thread
    stopped: bool = False

    @property
    def endpoint(self) -> str:
        return self.server.endpoint

    @property
    def requests(self) -> list[tuple[str, str]]:
        return self.server.request_log

    def snapshot(self, repo_id: str, commit: str) -> Path:
        return self.hf_home / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / commit

    def stop(self) -> None:
        """Shut the server down and close its port, so that connecting to the endpoint is refused."""
        if not self.stopped:
            self.server.shutdown()
            self.server.server_close()
            self.thread.join()
            self.stopped = True


@pytest.fixture
def mirror(monkeypatch, tmp_path):
    server = HubMirrorServer({REPO_ID: _bert_chinese_revisions()})
    thread = threading.Thread(target=server.serve_forever, name="hub-mirror", daemon=True)
    thread.start()
    running = Mirror(server, tmp_path / "hf-home", thread)
    _use_endpoint(monkeypatch, running.endpoint)
    _use_cache(monkeypatch, running.hf_home)
    yield running
    running.stop()




def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_tokenize_downloads_from_mirror(ptm, mirror):
    result = ptm("tokenize", "-m", REPO_ID, CHINESE_TEXT, "-F", "json")

    assert result.exit_code == 0, result.stderr
    assert result.json()["ids"] == CHINESE_IDS
    assert OFFLINE_COPY_NOTICE not in result.stderr
    assert ("GET", f"/{REPO_ID}/resolve/{MAIN_COMMIT}/vocab.txt") in mirror.requests

    snapshot = mirror.snapshot(REPO_ID, MAIN_COMMIT)
    vocab = (BUILTIN_DIR / "bert-base-chinese" / "vocab.txt").read_bytes()
    assert (snapshot / "vocab.txt").read_bytes() == vocab
    assert (snapshot / "tokenizer_config.json").is_file()
    refs_main = snapshot.parent.parent / "refs" / "main"
    assert refs_main.read_text() == MAIN_COMMIT


def test_models_list_shows_download(ptm, mirror):
    download = ptm("tokenize", "-m", REPO_ID, CHINESE_TEXT, "-F", "json")
    assert download.exit_code == 0, download.stderr

    result = ptm("models", "list", "-F", "json")

    assert result.exit_code == 0, result.stderr
    cached = [record for record in result.json() if record["type"] == "hub-cache"]
    assert [record["name"] for record in cached] == [REPO_ID]
    assert cached[0]["path"].startswith(str(mirror.hf_home))


def test_revision_selects_tag_v2(ptm, mirror):
    main = ptm("tokenize", "-m", REPO_ID, MIXED_TEXT, "-F", "json")
    v2 = ptm("tokenize", "-m", REPO_ID, MIXED_TEXT, "--revision", "v2", "-F", "json")

    assert main.exit_code == 0, main.stderr
    assert v2.exit_code == 0, v2.stderr
    assert main.json()["ids"] == MIXED_IDS_MAIN
    assert v2.json()["ids"] == MIXED_IDS_LOWER_CASE
    assert ("GET", f"/api/models/{REPO_ID}/revision/v2") in mirror.requests
    assert mirror.snapshot(REPO_ID, V2_COMMIT).is_dir()


def test_revision_by_commit_hash(ptm, mirror):
    result = ptm("tokenize", "-m", REPO_ID, MIXED_TEXT, "--revision", V2_COMMIT, "-F", "json")

    assert result.exit_code == 0, result.stderr
    assert result.json()["ids"] == MIXED_IDS_LOWER_CASE


def test_stopped_mirror_uses_cache(ptm, mirror):
    from ptmcli.engine import hub

    download = ptm("tokenize", "-m", REPO_ID, CHINESE_TEXT, "-F", "json")
    assert download.exit_code == 0, download.stderr
    mirror.stop()

    started = time.monotonic()
    result = ptm("tokenize", "-m", REPO_ID, CHINESE_TEXT, "-F", "json")
    elapsed_s = time.monotonic() - started

    assert result.exit_code == 0, result.stderr
    assert result.json()["ids"] == CHINESE_IDS
    assert hub._reachable is False
    assert OFFLINE_COPY_NOTICE not in result.stderr
    # A refused connection fails at once. The bound leaves room for a slow machine but not for the
    # libraries' retries against an unreachable Hub, which ptmcli/engine/hub.py puts at about 48 s.
    assert elapsed_s < 15


def test_stopped_mirror_keeps_revision(ptm, mirror):
    download = ptm("tokenize", "-m", REPO_ID, MIXED_TEXT, "--revision", "v2", "-F", "json")
    assert download.exit_code == 0, download.stderr
    mirror.stop()

    result = ptm("tokenize", "-m", REPO_ID, MIXED_TEXT, "--revision", "v2", "-F", "json")

    assert result.exit_code == 0, result.stderr
    # huggingface_hub maps v2 to its commit through refs/v2 in the cache, without the server.
    assert result.json()["ids"] == MIXED_IDS_LOWER_CASE
    refs_v2 = mirror.snapshot(REPO_ID, V2_COMMIT).parent.parent / "refs" / "v2"
    assert refs_v2.read_text() == V2_COMMIT


def test_missing_repo_not_found(ptm, mirror):
    result = ptm("tokenize", "-m", MISSING_REPO_ID, CHINESE_TEXT, "-F", "json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    errors = _error_lines(result.stderr)
    assert len(errors) == 1
    expected = f"model '{MISSING_REPO_ID}' was not found on the Hub at {mirror.endpoint}"
    assert expected in errors[0]
    assert ("GET", f"/api/models/{MISSING_REPO_ID}") in mirror.requests


def test_missing_revision_fails_cleanly(ptm, mirror):
    result = ptm("tokenize", "-m", REPO_ID, CHINESE_TEXT, "--revision", "no-such-tag", "-F", "json")

    assert result.exit_code == 1
    assert result.stdout == ""
    errors = _error_lines(result.stderr)
    assert len(errors) == 1
    assert f"'{REPO_ID}'" in errors[0]
    assert "revision 'no-such-tag'" in errors[0]
    assert "--revision" in errors[0]
    assert "Traceback" not in result.stderr
    assert ("GET", f"/api/models/{REPO_ID}/revision/no-such-tag") in mirror.requests


def test_offline_sends_no_request(ptm, mirror):
    download = ptm("tokenize", "-m", REPO_ID, CHINESE_TEXT, "-F", "json")
    assert download.exit_code == 0, download.stderr
    mirror.requests.clear()
    mirror.server.connection_count = 0

    cached = ptm("tokenize", "--offline", "-m", REPO_ID, CHINESE_TEXT, "-F", "json")
    missing = ptm("tokenize", "--offline", "-m", MISSING_REPO_ID, CHINESE_TEXT, "-F", "json")

    assert cached.exit_code == 0, cached.stderr
    assert cached.json()["ids"] == CHINESE_IDS
    assert missing.exit_code == 1
    assert len(_error_lines(missing.stderr)) == 1
    assert "offline mode (--offline or HF_HUB_OFFLINE) prevents downloading it" in missing.stderr
    assert mirror.requests == []
    assert mirror.server.connection_count == 0


def test_reachable_mirror_skips_offline_copy(ptm, mirror):
    # bert-base-chinese has an offline tokenizer copy, which ptm uses only when the Hub is unreachable.
    result = ptm("tokenize", "-m", "bert-base-chinese", CHINESE_TEXT, "-F", "json")

    assert result.exit_code == 1
    assert result.stdout == ""
    assert OFFLINE_COPY_NOTICE not in result.stderr
    errors = _error_lines(result.stderr)
    assert len(errors) == 1
    expected = f"model 'bert-base-chinese' was not found on the Hub at {mirror.endpoint}"
    assert expected in errors[0]
    assert ("GET", "/api/models/bert-base-chinese") in mirror.requests
