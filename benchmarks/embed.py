"""Throughput and peak memory of `ptm embed` against sentence-transformers' encode on minilm.

Usage: python benchmarks/embed.py [--lines 10000] [--batch-size 32]

Each side runs once, in its own process, on the same lines: mean pooling, L2-normalized, the same
batch size. The time covers encoding only (the model is loaded first); peak memory is the
process's maximum resident set size, model included.
"""

import argparse
import json
import random
import resource
import subprocess
import sys
import time

WORDS_EN = ("the model reads every token of the sentence and the pooling layer averages them into one vector "
            "for search ranking clustering and similarity between short texts").split()
WORDS_ZH = list("我们今天在北京学习自然语言处理模型把句子变成向量用于检索和聚类效果很好但是速度也很重要")


def mixed_lines(count: int, seed: int = 0) -> list[str]:
    """Make lines of 3 to 40 words, half English, a quarter Chinese, a quarter mixed."""
    generator = random.Random(seed)
    lines = []
    for index in range(count):
        length = generator.randint(3, 40)
        kind = index % 4
        if kind in (0, 1):
            line = " ".join(generator.choice(WORDS_EN) for _ in range(length))
        elif kind == 2:
            line = "".join(generator.choice(WORDS_ZH) for _ in range(length))
        else:
            line = " ".join(generator.choice(WORDS_EN) if generator.random() < 0.5 else
                            "".join(generator.choices(WORDS_ZH, k=3)) for _ in range(length))
        lines.append(line)
    return lines


def run_ptm(lines: list[str], batch_size: int) -> float:
    from ptmcli.engine.embed import EmbedOptions, embed, plan
    from ptmcli.engine.encoder import inspect_encoder
    from ptmcli.engine.loading import load_model
    from ptmcli.engine.resolve import resolve

    source = resolve("minilm")
    loaded = load_model(source, "AutoModel", device="cpu", dtype=None)
    info = inspect_encoder(loaded.model, loaded.tokenizer, source.location)
    run_plan = plan(info, EmbedOptions(pooling="mean", normalize=True, batch_size=batch_size))
    start = time.perf_counter()
    count = sum(1 for _item in embed(loaded.model, loaded.tokenizer, lines, info, run_plan))
    elapsed = time.perf_counter() - start
    assert count == len(lines)
    return elapsed


def run_sentence_transformers(lines: list[str], batch_size: int) -> float:
    from sentence_transformers import SentenceTransformer

    from ptmcli.engine.resolve import resolve

    model = SentenceTransformer(resolve("minilm").location, device="cpu")
    start = time.perf_counter()
    vectors = model.encode(lines, batch_size=batch_size, normalize_embeddings=True)
    elapsed = time.perf_counter() - start
    assert len(vectors) == len(lines)
    return elapsed


def measure(side: str, count: int, batch_size: int) -> None:
    lines = mixed_lines(count)
    runner = run_ptm if side == "ptm" else run_sentence_transformers
    elapsed = runner(lines, batch_size)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    print(json.dumps({"side": side, "lines": count, "batch_size": batch_size, "seconds": round(elapsed, 2),
                      "sentences_per_second": round(count / elapsed, 1), "peak_rss_mb": round(peak_mb)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--side", choices=("ptm", "sentence-transformers"))
    arguments = parser.parse_args()
    if arguments.side:
        measure(arguments.side, arguments.lines, arguments.batch_size)
        return

    results = {}
    for side in ("ptm", "sentence-transformers"):
        completed = subprocess.run([sys.executable, __file__, "--side", side, "--lines", str(arguments.lines),
                                    "--batch-size", str(arguments.batch_size)],
                                   capture_output=True, text=True, check=True)
        results[side] = json.loads(completed.stdout.strip().splitlines()[-1])
        print(json.dumps(results[side]))
    ratio = results["ptm"]["sentences_per_second"] / results["sentence-transformers"]["sentences_per_second"]
    print(f"ptm / sentence-transformers throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()
