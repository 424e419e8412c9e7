"""Perplexity from per-text negative log-likelihoods and token counts (ptm's offline module).

The Hub's perplexity module loads a model by id; here the caller runs the model and passes the
summed NLL of each text, so any local causal LM works.
"""

import datasets
import evaluate

from ptmcli.metrics import _scores


class Perplexity(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="exp(total negative log-likelihood / total predicted tokens).",
            citation="",
            inputs_description="predictions: summed NLL per text (nats); references: predicted tokens per text.",
            features=datasets.Features({"predictions": datasets.Value("float64"),
                                        "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        return _scores.perplexity(predictions, references)
