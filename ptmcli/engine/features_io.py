"""Write embeddings to JSON Lines, .npy, .safetensors or Parquet, a chunk at a time.

Every writer knows the number of rows up front (the texts are counted before embedding), so the
binary formats can write their header first and then stream rows, keeping memory bounded.
"""

import json
import os
import struct
from pathlib import Path

from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _

SUFFIXES = (".jsonl", ".npy", ".safetensors", ".parquet")
TENSOR_NAME = "embeddings"


def check_output_path(path: Path, tokens: bool) -> str:
    """Validate --output before any model is loaded and return its format (the suffix without the dot)."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise UsageError(
            _("cannot tell the format of output file '{path}' from its suffix").format(path=path),
            hint=_("use one of: {suffixes}").format(suffixes=", ".join(SUFFIXES)),
        )
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(
            _("the folder of output file '{path}' does not exist").format(path=path),
            hint=_("create it first: mkdir -p {folder}").format(folder=folder),
        )
    if path.is_dir():
        raise UsageError(_("output path '{path}' is a folder").format(path=path), hint=_("give a file name"))
    if tokens and suffix != ".jsonl":
        raise UsageError(
            _("--tokens writes one record per text with its token features, which only .jsonl can hold"),
            hint=_("use --output FILE.jsonl, or drop --tokens"),
        )
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(_("writing Parquet needs pyarrow"), hint=_("pip install pyarrow")) from None
    return suffix.removeprefix(".")


def open_writer(path: Path, rows: int, dim: int, metadata: dict[str, str]) -> "AtomicOutput":
    kind = path.suffix.lower().removeprefix(".")
    writers = {"jsonl": JsonlWriter, "npy": NpyWriter, "safetensors": SafetensorsWriter, "parquet": ParquetWriter}
    partial = path.with_name(f".{path.name}.partial")
    try:
        return AtomicOutput(writers[kind](partial, rows, dim, metadata), partial, path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise PtmError(_("cannot write '{path}': {reason}").format(path=path, reason=error.strerror)) from error


class AtomicOutput:
    """A writer whose file appears under its final name only once every row is written.

    Rows go to a hidden partial file beside the target, renamed into place by close(), so a run
    that fails or is interrupted leaves neither a half-written file nor a clobbered old one.
    """

    def __init__(self, writer, partial: Path, final: Path):
        self.writer = writer
        self.partial = partial
        self.final = final

    def write(self, records: list[dict], vectors) -> None:
        self.writer.write(records, vectors)

    def close(self) -> None:
        self.writer.close()
        os.replace(self.partial, self.final)

    def abort(self) -> None:
        try:
            self.writer.close()
        finally:
            self.partial.unlink(missing_ok=True)


class JsonlWriter:
    def __init__(self, path: Path, rows: int, dim: int, metadata: dict[str, str]):
        self.metadata = metadata
        self.handle = open(path, "w", encoding="utf-8")

    def write(self, records: list[dict], vectors) -> None:
        for record in records:
            self.handle.write(json.dumps({**self.metadata, **record}, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.handle.close()


class NpyWriter:
    def __init__(self, path: Path, rows: int, dim: int, metadata: dict[str, str]):
        import numpy

        self.array = numpy.lib.format.open_memmap(path, mode="w+", dtype=numpy.float32, shape=(rows, dim))
        self.row = 0

    def write(self, records: list[dict], vectors) -> None:
        self.array[self.row:self.row + len(vectors)] = vectors
        self.row += len(vectors)

    def close(self) -> None:
        self.array.flush()
        del self.array


class SafetensorsWriter:
    """Write one float32 tensor [rows, dim] named 'embeddings' in the safetensors layout.

    The layout is an 8-byte little-endian header length, a JSON header padded with spaces to a
    multiple of 8 bytes, then the raw little-endian data; writing it by hand lets rows stream.
    """

    def __init__(self, path: Path, rows: int, dim: int, metadata: dict[str, str]):
        size = rows * dim * 4
        header = {TENSOR_NAME: {"dtype": "F32", "shape": [rows, dim], "data_offsets": [0, size]},
                  "__metadata__": metadata}
        encoded = json.dumps(header, ensure_ascii=False).encode("utf-8")
        encoded += b" " * (-len(encoded) % 8)
        self.handle = open(path, "wb")
        self.handle.write(struct.pack("<Q", len(encoded)) + encoded)

    def write(self, records: list[dict], vectors) -> None:
        self.handle.write(vectors.astype("<f4").tobytes())

    def close(self) -> None:
        self.handle.close()


class ParquetWriter:
    """Write rows (index, text, embedding) with the embedding as a fixed-size list of float32."""

    def __init__(self, path: Path, rows: int, dim: int, metadata: dict[str, str]):
        import pyarrow
        import pyarrow.parquet

        self.pyarrow = pyarrow
        self.dim = dim
        self.schema = pyarrow.schema(
            [("index", pyarrow.int64()), ("text", pyarrow.string()),
             ("embedding", pyarrow.list_(pyarrow.float32(), dim))],
            metadata={key.encode(): value.encode() for key, value in metadata.items()},
        )
        self.writer = pyarrow.parquet.ParquetWriter(str(path), self.schema)

    def write(self, records: list[dict], vectors) -> None:
        pyarrow = self.pyarrow
        flat = pyarrow.array(vectors.astype("float32").reshape(-1), type=pyarrow.float32())
        table = pyarrow.Table.from_arrays(
            [pyarrow.array([record["index"] for record in records], type=pyarrow.int64()),
             pyarrow.array([record["text"] for record in records], type=pyarrow.string()),
             pyarrow.FixedSizeListArray.from_arrays(flat, self.dim)],
            schema=self.schema,
        )
        self.writer.write_table(table)

    def close(self) -> None:
        self.writer.close()
