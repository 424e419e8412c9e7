"""Metric modules that ptm ships so that `evaluate.load(path)` works without the Hugging Face Hub.

Each folder holds one `evaluate.Metric` script named like the folder, as `evaluate.load` expects.
"""

from pathlib import Path

METRICS_DIR = Path(__file__).parent
SHIPPED = ("accuracy", "precision", "recall", "f1", "seqeval", "exact_match", "squad", "bleu", "rouge",
           "perplexity")
