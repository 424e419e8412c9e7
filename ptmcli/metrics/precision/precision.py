"""Precision for class ids, with sklearn's definitions (ptm's offline module).

Binary labels need no average; more classes need average='macro', 'micro' or 'weighted', or
'per-class' for one value per class.
"""

import datasets
import evaluate

from ptmcli.metrics import _scores


class Precision(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Precision of predicted class ids against the references.",
            citation="",
            inputs_description="predictions and references: lists of integer class ids; average, labels, pos_label.",
            features=datasets.Features({"predictions": datasets.Value("int64"),
                                        "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, average=None, labels=None, pos_label=1):
        scores = _scores.precision_recall_f1(predictions, references, average=average, labels=labels,
                                             pos_label=pos_label)
        result = {"precision": scores["precision"]}
        if "labels" in scores:
            result["labels"] = scores["labels"]
        return result
