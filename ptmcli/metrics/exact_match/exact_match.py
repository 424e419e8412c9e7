"""Exact match of normalized strings, as a fraction (ptm's offline module)."""

import datasets
import evaluate

from ptmcli.metrics import _scores


class ExactMatch(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Fraction of predictions equal to their reference after SQuAD normalization.",
            citation="",
            inputs_description="predictions and references: lists of strings.",
            features=datasets.Features({"predictions": datasets.Value("string"),
                                        "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references):
        return _scores.exact_match(predictions, references)
