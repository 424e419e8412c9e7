"""SQuAD exact match and F1 (0-100) with CJK characters as tokens (ptm's offline module)."""

import datasets
import evaluate

from ptmcli.metrics import _scores


class Squad(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="SQuAD v1 exact match and token F1 against the best of several reference answers.",
            citation="Rajpurkar et al., SQuAD: 100,000+ Questions for Machine Comprehension of Text, EMNLP 2016.",
            inputs_description="predictions: {'id', 'prediction_text'}; references: {'id', 'answers': {'text'}}.",
            features=datasets.Features({
                "predictions": {"id": datasets.Value("string"), "prediction_text": datasets.Value("string")},
                "references": {"id": datasets.Value("string"),
                               "answers": datasets.Sequence({"text": datasets.Value("string"),
                                                             "answer_start": datasets.Value("int32")})},
            }),
        )

    def _compute(self, predictions, references):
        answers = {reference["id"]: reference["answers"]["text"] for reference in references}
        texts = [prediction["prediction_text"] for prediction in predictions]
        return _scores.squad(texts, [answers[prediction["id"]] for prediction in predictions])
