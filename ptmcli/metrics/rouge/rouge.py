"""Mean ROUGE-1/2/L/Lsum F-measures from rouge_score, with CJK characters as tokens (ptm's offline module)."""

import datasets
import evaluate

from ptmcli.metrics import _scores


class Rouge(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="ROUGE F-measures averaged over examples.",
            citation="Lin, ROUGE: A Package for Automatic Evaluation of Summaries, ACL 2004 Workshop.",
            inputs_description="predictions: strings; references: strings or lists of strings.",
            features=[
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Sequence(datasets.Value("string"))}),
                datasets.Features({"predictions": datasets.Value("string"),
                                   "references": datasets.Value("string")}),
            ],
        )

    def _compute(self, predictions, references):
        references = [[answer] if isinstance(answer, str) else answer for answer in references]
        return _scores.rouge(predictions, references)
