"""Entity precision, recall and F1 per type from BIO tags, with seqeval's output keys (ptm's offline module)."""

import datasets
import evaluate

from ptmcli.metrics import _scores


class Seqeval(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Entity-level precision, recall and F1 per entity type, and token accuracy.",
            citation="",
            inputs_description="predictions and references: lists of tag sequences such as ['B-PER', 'I-PER', 'O'].",
            features=datasets.Features({
                "predictions": datasets.Sequence(datasets.Value("string")),
                "references": datasets.Sequence(datasets.Value("string")),
            }),
        )

    def _compute(self, predictions, references):
        return _scores.entity_scores(predictions, references)
