"""The training curves PNG saved beside a fine-tuned model: losses and evaluation metrics per step."""

from pathlib import Path


def plot_curves(log_history: list[dict], path: Path) -> None:
    """Draw training loss, evaluation loss and evaluation metrics against the step, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    train = [(entry["step"], entry["loss"]) for entry in log_history if "loss" in entry and "step" in entry]
    evaluations = [entry for entry in log_history if "eval_loss" in entry]
    metric_names = sorted({key for entry in evaluations for key, value in entry.items()
                           if key.startswith("eval_") and isinstance(value, (int, float))
                           and key not in ("eval_loss", "eval_runtime", "eval_samples_per_second",
                                           "eval_steps_per_second", "epoch")
                           and key.endswith(("accuracy", "f1", "precision", "recall", "exact_match"))})
    figure, (loss_axis, metric_axis) = pyplot.subplots(1, 2, figsize=(10, 4))
    if train:
        loss_axis.plot(*zip(*train, strict=True), label="train loss")
    if evaluations:
        loss_axis.plot([entry["step"] for entry in evaluations], [entry["eval_loss"] for entry in evaluations],
                       marker="o", label="eval loss")
    loss_axis.set_xlabel("step")
    loss_axis.set_title("loss")
    if train or evaluations:
        loss_axis.legend(loc="best")
    for name in metric_names[:8]:
        points = [(entry["step"], entry[name]) for entry in evaluations if name in entry]
        metric_axis.plot(*zip(*points, strict=True), marker="o", label=name.removeprefix("eval_"))
    metric_axis.set_xlabel("step")
    metric_axis.set_title("evaluation metrics")
    if metric_names:
        metric_axis.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
