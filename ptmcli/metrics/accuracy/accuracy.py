"""Accuracy: the fraction of predicted class ids equal to the reference ids (ptm's offline module)."""

import datasets
import evaluate

from ptmcli.metrics import _scores


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Fraction of predictions equal to the references.",
            citation="",
            inputs_description="predictions and references: lists of integer class ids.",
            features=datasets.Features({"predictions": datasets.Value("int64"),
                                        "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return _scores.accuracy(predictions, references)
