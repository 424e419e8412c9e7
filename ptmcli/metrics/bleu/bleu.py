"""Corpus BLEU computed by sacrebleu, on a 0-1 scale (ptm's offline module)."""

import datasets
import evaluate

from ptmcli.metrics import _scores


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Corpus BLEU from sacrebleu; Chinese predictions are tokenized by character.",
            citation="Post, A Call for Clarity in Reporting BLEU Scores, WMT 2018.",
            inputs_description="predictions: strings; references: lists of reference strings; tokenize.",
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references, tokenize=None):
        references = [[answer] if isinstance(answer, str) else answer for answer in references]
        return _scores.bleu(predictions, references, tokenize=tokenize)
