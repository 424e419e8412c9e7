"""Load `evaluate` metrics without the Hub, and turn model outputs into what the metrics expect."""

import logging
from pathlib import Path

from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _
from ptmcli.metrics import METRICS_DIR, SHIPPED
from ptmcli.metrics._scores import AVERAGES, MetricInputError, check_class_ids

log = logging.getLogger("ptmcli")

ALIASES = {"entity_f1": "seqeval", "em": "exact_match", "sacrebleu": "bleu", "ppl": "perplexity"}
CLASSIFICATION = ("accuracy", "precision", "recall", "f1")
AVERAGED = ("precision", "recall", "f1")
DEFAULT_METRICS = {
    "text-classification": ("accuracy", "f1"),
    "token-classification": ("seqeval",),
    "question-answering": ("squad",),
}


def parse_metric_names(text: str | None, task: str) -> tuple[str, ...]:
    if not text:
        return DEFAULT_METRICS.get(task, ())
    names = tuple(ALIASES.get(name.strip(), name.strip()) for name in text.split(",") if name.strip())
    if not names:
        raise UsageError(_("--metric is empty"), hint=_("for example --metric accuracy,f1"))
    return names


def load_metric(name: str, *, trust_remote_code: bool = False):
    """Load a metric through evaluate.load: ptm's shipped module, a local script, or a Hub script.

    Shipped names always use the module inside ptm, so scores do not depend on the Hub being
    reachable, and no downloaded code runs. A Hub metric script is Python code from the network,
    so it runs only when the user passes --trust-remote-code.
    """
    import evaluate

    if name in SHIPPED:
        return evaluate.load(str(METRICS_DIR / name))
    path = Path(name).expanduser()
    if path.exists():
        try:
            return evaluate.load(str(path))
        except FileNotFoundError as error:
            raise UsageError(_("no metric script in '{path}'").format(path=name),
                             hint=_("a metric folder needs a script named like the folder, such as "
                                    "my_metric/my_metric.py")) from error
    if not trust_remote_code:
        raise UsageError(
            _("metric '{name}' is not shipped with ptm, and a Hub metric is a script that would run on this "
              "machine").format(name=name),
            hint=_("shipped: {names}; pass --trust-remote-code to run the Hub script").format(names=", ".join(SHIPPED)))
    from ptmcli.engine import hub

    if not hub.hub_reachable():
        raise PtmError(_("metric '{name}' needs the Hub at {endpoint}, which cannot be reached").format(
            name=name, endpoint=hub.endpoint()), hint=_("use a shipped metric: {names}").format(
            names=", ".join(SHIPPED)))
    try:
        return evaluate.load(name, trust_remote_code=True)
    except Exception as error:
        raise PtmError(_("cannot load metric '{name}': {reason}").format(name=name, reason=error)) from error


def class_predictions(predictions):
    """Reduce model output to class ids: the first array of a tuple (the logits), then argmax(-1).

    Some models return extra arrays (hidden states, caches) next to the logits, so Trainer hands
    compute_metrics a tuple instead of one array.
    """
    import numpy as np

    if isinstance(predictions, tuple):
        predictions = predictions[0]
    return np.asarray(predictions).argmax(-1)


def score(metrics: dict, name: str, predictions, references, *, average: str | None = None, num_labels: int = 0,
          **options) -> dict:
    """Compute one metric, with ptm's checks first so that misuse reads as one line, not a library trace."""
    if name in CLASSIFICATION:
        predictions = _class_ids(predictions, "predictions")
        references = _class_ids(references, "references")
    if name in AVERAGED:
        classes = max(num_labels, len(set(references) | set(predictions)))
        if average is None and classes > 2:
            raise UsageError(
                _("{metric} on {count} classes needs an average").format(metric=name, count=classes),
                hint=_("pass --average macro, micro or weighted, or --average per-class for one value per class"))
        options["average"] = average
        if num_labels:
            options["labels"] = list(range(num_labels))
    elif average is not None and name not in AVERAGED:
        options.pop("average", None)
    metric = metrics[name]
    try:
        return metric.compute(predictions=predictions, references=references, **options)
    except MetricInputError as error:
        raise UsageError(_("metric {metric}: {reason}").format(metric=name, reason=error)) from error
    except ValueError as error:
        raise UsageError(_("metric {metric} cannot score these values: {reason}").format(
            metric=name, reason=str(error).splitlines()[0])) from error


def check_average(average: str | None) -> None:
    if average is not None and average not in AVERAGES:
        raise UsageError(_("invalid --average '{value}'").format(value=average),
                         hint=_("use one of: {names}").format(names=", ".join(AVERAGES)))


def flatten(results: dict) -> dict:
    """Flatten nested metric output ({'PER': {'f1': ..}}) into 'PER_f1' keys for Trainer logs and tables."""
    flat = {}
    for key, value in results.items():
        if isinstance(value, dict):
            for inner, number in value.items():
                flat[f"{key}_{inner}"] = number
        else:
            flat[key] = value
    return flat


def _class_ids(values, what: str) -> list[int]:
    import numpy as np

    array = np.asarray(values) if not isinstance(values, list) else values
    if hasattr(array, "ndim"):
        if array.ndim > 1:
            raise UsageError(
                _("{what} have shape {shape}: these look like logits, not class ids").format(
                    what=what, shape=tuple(array.shape)),
                hint=_("take argmax(-1) over the last axis first"))
        array = array.tolist()
    try:
        return check_class_ids(array, what)
    except MetricInputError as error:
        raise UsageError(str(error), hint=_("take argmax(-1) over the last axis first")) from error

