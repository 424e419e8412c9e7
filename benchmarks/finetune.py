"""Training throughput of `ptm finetune` against a plain Trainer script on the same model, data and arguments.

Usage: python benchmarks/finetune.py [--rows 512] [--batch-size 16] [--layers 4] [--hidden 256] [--repeats 2]

Both sides train a random-weight BERT (the bert-base-chinese vocabulary, --layers and --hidden)
on the first --rows training rows of the chnsenti pack for one epoch, with max length 128, the
same seed and no evaluation or checkpoints. Each side runs --repeats times in turn, alternating,
in one process; the figure is Trainer's train_samples_per_second, the best of the repeats.
"""

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path


def build_model(folder: Path, layers: int, hidden: int) -> None:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from ptmcli.packs.catalog import BUILTIN_DIR

    tokenizer = AutoTokenizer.from_pretrained(str(BUILTIN_DIR / "bert-base-chinese"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=max(1, hidden // 64), intermediate_size=hidden * 4)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def run_ptm(model: Path, rows: int, batch_size: int, output: Path) -> float:
    from ptmcli.engine.data import load_splits, prepare_columns, quiet_datasets
    from ptmcli.engine.finetune import TrainSettings, finetune, load_task_model

    quiet_datasets(False)
    splits, info, _kind = load_splits("chnsenti")
    data = prepare_columns(splits, info, "text-classification")
    settings = TrainSettings(task="text-classification", output_dir=str(output), epochs=1, batch_size=batch_size,
                             max_train_samples=rows, eval_strategy="no", save_strategy="no", logging_steps=1000,
                             max_length=128, validation_split=0, device="cpu", metrics=())
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    task_model = load_task_model(str(model), "text-classification", data.labels, load_options={})
    result = finetune(task_model, tokenizer, data, settings, model_name=str(model), dataset_name="chnsenti")
    return result.samples_per_second


def run_plain(model: Path, rows: int, batch_size: int, output: Path) -> float:
    import datasets
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    from ptmcli.packs.catalog import PACKS
    from ptmcli.packs.store import ensure_pack

    folder = ensure_pack(PACKS["chnsenti"], offline=False, progress=lambda line: None)
    train = datasets.load_dataset("json", data_files={"train": str(folder / "train.jsonl")})["train"]
    train = train.shuffle(seed=42).select(range(rows))
    tokenizer = AutoTokenizer.from_pretrained(model)
    train = train.map(lambda batch: {**tokenizer(batch["text"], truncation=True, max_length=128),
                                     "labels": batch["label"]}, batched=True, remove_columns=train.column_names)
    classifier = AutoModelForSequenceClassification.from_pretrained(model, num_labels=2)
    arguments = TrainingArguments(output_dir=str(output), num_train_epochs=1, per_device_train_batch_size=batch_size,
                                  learning_rate=5e-5, seed=42, eval_strategy="no", save_strategy="no",
                                  logging_steps=1000, report_to="none", disable_tqdm=True, use_cpu=True)
    trainer = Trainer(model=classifier, args=arguments, train_dataset=train, processing_class=tokenizer,
                      data_collator=DataCollatorWithPadding(tokenizer))
    return trainer.train().metrics["train_samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=2)
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ptm-bench-"))
    try:
        model = work / "model"
        build_model(model, options.layers, options.hidden)
        ptm_rates, plain_rates = [], []
        for repeat in range(options.repeats):
            plain_rates.append(run_plain(model, options.rows, options.batch_size, work / f"plain-{repeat}"))
            ptm_rates.append(run_ptm(model, options.rows, options.batch_size, work / f"ptm-{repeat}"))
        report = {
            "rows": options.rows, "batch_size": options.batch_size, "layers": options.layers,
            "hidden": options.hidden, "threads": os.cpu_count(),
            "plain_trainer_samples_per_second": max(plain_rates),
            "ptm_finetune_samples_per_second": max(ptm_rates),
            "ratio": round(max(ptm_rates) / max(plain_rates), 3),
            "all_plain": plain_rates, "all_ptm": ptm_rates,
        }
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
