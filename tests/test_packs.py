"""Pack preparation: checksums, the lock, atomic publication, removal and `ptm models`."""

import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from dataclasses import replace

import pytest

from ptmcli.errors import PtmError
from ptmcli.packs import store
from ptmcli.packs.catalog import PACKS, Pack

CONFIG = b'{"model_type": "fake"}'


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PTM_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fake_pack(tmp_path) -> Pack:
    """A pack whose 'package' is a local wheel, which pip download accepts as a path."""
    wheel = tmp_path / "fakepack-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as bundle:
        bundle.writestr("fakepack/model/config.json", CONFIG)
        bundle.writestr("fakepack-0.1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakepack\nVersion: 0.1.0\n")
        bundle.writestr("fakepack-0.1.0.dist-info/WHEEL",
                        "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        bundle.writestr("fakepack-0.1.0.dist-info/RECORD", "")
    return Pack(name="fake", kind="encoder", summary="test", license="MIT", preparation="folder",
                requirement=str(wheel), archive=wheel.name, member="fakepack/model",
                checksums={"fakepack/model/config.json": hashlib.sha256(CONFIG).hexdigest()})


def test_prepare_verifies_and_publishes(home, fake_pack):
    folder = store.prepare_pack(fake_pack, progress=lambda line: None)
    assert folder == home / "packs" / "fake"
    assert (folder / "config.json").read_bytes() == CONFIG
    assert json.loads((folder / store.MARKER).read_text())["pack"] == "fake"
    assert store.is_prepared(fake_pack)
    assert [entry.name for entry in (home / "packs").iterdir()] == ["fake"]


def test_checksum_mismatch_leaves_nothing(home, fake_pack):
    tampered = replace(fake_pack, checksums={"fakepack/model/config.json": "0" * 64})
    with pytest.raises(PtmError, match="checksum mismatch for fakepack/model/config.json"):
        store.prepare_pack(tampered, progress=lambda line: None)
    assert list((home / "packs").iterdir()) == []


def test_failed_download_is_one_error(home, fake_pack, tmp_path):
    missing = replace(fake_pack, requirement=str(tmp_path / "nowhere-0.1.0-py3-none-any.whl"))
    with pytest.raises(PtmError, match="download of .* failed"):
        store.prepare_pack(missing, progress=lambda line: None)
    assert list((home / "packs").iterdir()) == []


def test_interrupted_preparation_leaves_no_pack(home, fake_pack, monkeypatch):
    def interrupted(pack, source, output):
        output.mkdir()
        (output / "config.json").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "_convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.prepare_pack(fake_pack, progress=lambda line: None)
    assert list((home / "packs").iterdir()) == []
    assert not store.is_prepared(fake_pack)


PREPARE_SCRIPT = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from ptmcli.packs import store
    from ptmcli.packs.catalog import Pack

    pack = Pack(**json.loads(sys.argv[1]))
    real_convert = store._convert

    def slow_convert(pack, source, output):
        with open(Path(sys.argv[2]), "a") as log:
            log.write("convert\\n")
        time.sleep(float(sys.argv[3]))
        real_convert(pack, source, output)

    store._convert = slow_convert
    print(store.prepare_pack(pack, progress=lambda line: None))
""")


def start_preparation(fake_pack, log_file, delay):
    fields = {name: getattr(fake_pack, name) for name in
              ("name", "kind", "summary", "license", "preparation", "requirement", "archive", "member", "checksums")}
    return subprocess.Popen([sys.executable, "-c", PREPARE_SCRIPT, json.dumps(fields), str(log_file), str(delay)],
                            stdout=subprocess.PIPE, text=True)


def test_concurrent_preparations_convert_once(home, fake_pack, tmp_path):
    log_file = tmp_path / "converts.log"
    first = start_preparation(fake_pack, log_file, 1.5)
    second = start_preparation(fake_pack, log_file, 1.5)
    outputs = [process.communicate(timeout=120)[0].strip() for process in (first, second)]
    assert first.returncode == second.returncode == 0
    assert outputs[0] == outputs[1] == str(home / "packs" / "fake")
    assert log_file.read_text() == "convert\n"


def test_killed_preparation_is_cleaned_up(home, fake_pack, tmp_path):
    log_file = tmp_path / "converts.log"
    victim = start_preparation(fake_pack, log_file, 60)
    for _ in range(200):
        if log_file.exists():
            break
        subprocess.run(["sleep", "0.1"])
    victim.kill()
    victim.wait()
    leftovers = [entry.name for entry in (home / "packs").iterdir()]
    assert "fake" not in leftovers
    assert any(name.startswith(".fake.") for name in leftovers)

    store.prepare_pack(fake_pack, progress=lambda line: None)
    assert [entry.name for entry in (home / "packs").iterdir()] == ["fake"]


def test_remove_pack(home, fake_pack):
    store.prepare_pack(fake_pack, progress=lambda line: None)
    assert store.remove_pack(fake_pack) is True
    assert list((home / "packs").iterdir()) == []
    assert store.remove_pack(fake_pack) is False


def test_offline_refuses_download(home, fake_pack):
    with pytest.raises(PtmError, match="not prepared and offline mode is on"):
        store.ensure_pack(fake_pack, offline=True, progress=lambda line: None)


@pytest.mark.real
def test_gpt2_merges_rebuilt_exactly(gpt2_tokenizer):
    from ptmcli.packs.store import pack_path

    folder = pack_path(PACKS["gpt2-tokenizer"])
    model = json.loads((folder / "tokenizer.json").read_text())["model"]
    assert len(model["vocab"]) == 50257
    assert len(model["merges"]) == 50000
    # The first merges of GPT-2's merges.txt.
    assert [" ".join(pair) if isinstance(pair, list) else pair for pair in model["merges"][:3]] == [
        "Ġ t", "Ġ a", "h e"]
    assert gpt2_tokenizer("Hello world")["input_ids"] == [15496, 995]


def test_builtin_bert_chinese_vocab():
    folder = store.pack_path(PACKS["bert-base-chinese-tokenizer"])
    vocab = (folder / "vocab.txt").read_bytes()
    assert len(vocab) == 109540
    assert hashlib.md5(vocab).hexdigest() == "3b5b76c4aef48ecf8cb3abaafe960f09"
    assert (folder / "NOTICE.md").exists()


def test_models_list_json(ptm, home):
    records = ptm("models", "list", "-F", "jsonl").jsonl()
    packs = {record["name"]: record for record in records if record["type"] == "pack"}
    assert set(packs) >= {"smollm2", "minilm", "gpt2-tokenizer", "bert-base-chinese-tokenizer"}
    assert packs["smollm2"]["state"] == "not prepared"
    assert packs["smollm2"]["license"] == "Apache-2.0"
    assert packs["bert-base-chinese-tokenizer"]["state"] == "built-in"
    assert packs["gpt2-tokenizer"]["tokenizer_of"] == ["gpt2", "openai-community/gpt2"]


def test_models_path_not_prepared(ptm, home):
    result = ptm("models", "path", "minilm")
    assert result.exit_code == 1
    assert "run 'ptm models download minilm'" in result.stderr


def test_models_unknown_pack(ptm, home):
    result = ptm("models", "download", "nosuch")
    assert result.exit_code == 2
    assert "unknown pack 'nosuch'" in result.stderr


def test_models_remove_builtin(ptm, home):
    result = ptm("models", "remove", "bert-base-chinese-tokenizer")
    assert result.exit_code == 2
    assert "built into ptm" in result.stderr


@pytest.mark.real
def test_models_download_and_path(ptm, home):
    downloaded = ptm("models", "download", "gpt2-tokenizer", "-F", "json")
    assert downloaded.exit_code == 0, downloaded.stderr
    assert downloaded.json()["path"] == str(home / "packs" / "gpt2-tokenizer")
    assert ptm("models", "path", "gpt2-tokenizer").stdout.strip() == str(home / "packs" / "gpt2-tokenizer")
    removed = ptm("models", "remove", "gpt2-tokenizer")
    assert "removed pack gpt2-tokenizer" in removed.stderr
