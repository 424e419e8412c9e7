"""Pure scoring functions behind ptm's shipped metric modules.

The modules beside this file wrap these functions as `evaluate.Metric` subclasses, so that
`evaluate.load(path)` works without the Hub. Keeping the arithmetic here lets tests call it
directly. Nothing here imports torch.
"""

import math
import re
import string
from collections import Counter

AVERAGES = ("binary", "micro", "macro", "weighted", "per-class")


class MetricInputError(ValueError):
    """Predictions or references that a metric cannot score, with the fix in the message."""


def check_class_ids(values, what: str) -> list[int]:
    """Reject logits and other non-integer predictions before a classification metric sees them."""
    ids = []
    for value in values:
        if isinstance(value, (list, tuple)):
            raise MetricInputError(
                f"{what} look like scores or logits (one list per example), not class ids; "
                "take argmax(-1) of the logits first")
        if isinstance(value, float) and not value.is_integer():
            raise MetricInputError(f"{what} contain the non-integer value {value}; expected class ids")
        ids.append(int(value))
    return ids


def accuracy(predictions, references) -> dict:
    predictions = check_class_ids(predictions, "predictions")
    references = check_class_ids(references, "references")
    _check_lengths(predictions, references)
    correct = sum(p == r for p, r in zip(predictions, references, strict=True))
    return {"accuracy": correct / len(references) if references else 0.0}


def precision_recall_f1(predictions, references, *, average: str | None, labels=None, pos_label: int = 1) -> dict:
    """Return precision, recall and F1 with sklearn's definitions (zero where a ratio is 0/0)."""
    from sklearn.metrics import precision_recall_fscore_support

    predictions = check_class_ids(predictions, "predictions")
    references = check_class_ids(references, "references")
    _check_lengths(predictions, references)
    classes = sorted(set(references) | set(predictions)) if labels is None else list(labels)
    if average is None:
        if len(classes) > 2:
            raise MetricInputError(
                f"precision, recall and f1 on {len(classes)} classes need an average: "
                "pass average='macro', 'micro' or 'weighted', or 'per-class' for one value per class")
        average = "binary"
    if average not in AVERAGES:
        raise MetricInputError(f"invalid average '{average}'; use one of {', '.join(AVERAGES)}")
    sklearn_average = None if average == "per-class" else average
    options = {"pos_label": pos_label} if average == "binary" else {}
    if average != "binary":
        options["labels"] = classes
    precision, recall, f1, _support = precision_recall_fscore_support(
        references, predictions, average=sklearn_average, zero_division=0, **options)
    if average == "per-class":
        return {"labels": classes, "precision": [float(v) for v in precision],
                "recall": [float(v) for v in recall], "f1": [float(v) for v in f1]}
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1)}


def bio_spans(tags: list[str]) -> set[tuple[str, int, int]]:
    """Extract (type, start, end) entity spans from BIO or IOB tags, end exclusive.

    Like conlleval and seqeval's default mode, an I-X that follows O or another type starts a
    new entity instead of being dropped, so a model that never predicts B- still gets credit.
    """
    spans = set()
    kind, start = None, 0
    for position, tag in enumerate(list(tags) + ["O"]):
        prefix, _dash, tag_type = tag.partition("-") if tag not in ("O", "") else ("O", "", None)
        continues = prefix == "I" and tag_type == kind
        if kind is not None and not continues:
            spans.add((kind, start, position))
            kind = None
        if prefix in ("B", "I") and not continues:
            kind, start = tag_type, position
    return spans


def entity_scores(predictions: list[list[str]], references: list[list[str]]) -> dict:
    """Return entity precision, recall and F1 per type and overall, plus token accuracy (seqeval's keys)."""
    if len(predictions) != len(references):
        raise MetricInputError(f"{len(predictions)} predicted sequences but {len(references)} references")
    found, gold, hit = Counter(), Counter(), Counter()
    tokens = correct_tokens = 0
    for index, (predicted, expected) in enumerate(zip(predictions, references, strict=True)):
        if len(predicted) != len(expected):
            raise MetricInputError(
                f"sequence {index} has {len(predicted)} predicted tags but {len(expected)} reference tags")
        tokens += len(expected)
        correct_tokens += sum(p == e for p, e in zip(predicted, expected, strict=True))
        predicted_spans, expected_spans = bio_spans(predicted), bio_spans(expected)
        for span in predicted_spans:
            found[span[0]] += 1
        for span in expected_spans:
            gold[span[0]] += 1
        for span in predicted_spans & expected_spans:
            hit[span[0]] += 1
    result: dict = {}
    for kind in sorted(set(found) | set(gold)):
        precision, recall, f1 = _prf(hit[kind], found[kind], gold[kind])
        result[kind] = {"precision": precision, "recall": recall, "f1": f1, "number": gold[kind]}
    precision, recall, f1 = _prf(sum(hit.values()), sum(found.values()), sum(gold.values()))
    result.update(overall_precision=precision, overall_recall=recall, overall_f1=f1,
                  overall_accuracy=correct_tokens / tokens if tokens else 0.0)
    return result


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and English articles and squeeze spaces, as the SQuAD script does."""
    text = text.lower()
    text = "".join(char for char in text if char not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    """Split a normalized answer into words, with each CJK character as its own token.

    SQuAD's F1 splits on spaces only, which scores any Chinese answer as all or nothing.
    """
    tokens = []
    for word in normalize_answer(text).split():
        tokens.extend(piece for piece in _CJK_SPLIT.split(word) if piece)
    return tokens


def exact_match(predictions: list[str], references: list[str]) -> dict:
    _check_lengths(predictions, references)
    matches = sum(normalize_answer(p) == normalize_answer(r) for p, r in zip(predictions, references, strict=True))
    return {"exact_match": matches / len(references) if references else 0.0}


def squad(predictions: list[str], references: list[list[str]]) -> dict:
    """Return SQuAD exact match and F1 (0-100), each example scored against its best reference answer."""
    _check_lengths(predictions, references)
    exact = f1 = 0.0
    for predicted, answers in zip(predictions, references, strict=True):
        answers = [answer for answer in answers if answer] or [""]
        exact += max(float(normalize_answer(predicted) == normalize_answer(answer)) for answer in answers)
        f1 += max(_token_f1(predicted, answer) for answer in answers)
    count = len(references) or 1
    return {"exact_match": 100.0 * exact / count, "f1": 100.0 * f1 / count}


def bleu(predictions: list[str], references: list[list[str]], *, tokenize: str | None = None) -> dict:
    """Return corpus BLEU from sacrebleu; tokenize 'zh' splits Chinese characters, and None picks it for CJK text."""
    import sacrebleu

    _check_lengths(predictions, references)
    if tokenize is None:
        tokenize = "zh" if any(_CJK.search(text) for text in predictions) else "13a"
    width = max(len(answers) for answers in references) if references else 1
    # sacrebleu wants one stream per reference position; short reference lists are padded with None.
    streams = [[answers[i] if i < len(answers) else None for answers in references] for i in range(width)]
    score = sacrebleu.corpus_bleu(predictions, streams, tokenize=tokenize)
    return {"bleu": score.score / 100, "precisions": [p / 100 for p in score.precisions],
            "brevity_penalty": score.bp, "length_ratio": score.sys_len / score.ref_len if score.ref_len else 0.0,
            "translation_length": score.sys_len, "reference_length": score.ref_len, "tokenize": tokenize}


def rouge(predictions: list[str], references: list[list[str]]) -> dict:
    """Return mean ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum F-measures, the best over each example's references."""
    from rouge_score import rouge_scorer

    _check_lengths(predictions, references)
    kinds = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    # rouge_score's own tokenizer keeps only [a-z0-9] and so scores Chinese text as empty.
    scorer = rouge_scorer.RougeScorer(kinds, tokenizer=_RougeTokenizer())
    totals = dict.fromkeys(kinds, 0.0)
    for predicted, answers in zip(predictions, references, strict=True):
        scores = scorer.score_multi(answers, predicted)
        for kind in kinds:
            totals[kind] += scores[kind].fmeasure
    count = len(references) or 1
    return {kind: total / count for kind, total in totals.items()}


def perplexity(nll: list[float], token_count: list[int]) -> dict:
    """Return corpus perplexity exp(total NLL / total tokens) and the mean of per-text perplexities."""
    _check_lengths(nll, token_count)
    total_tokens = sum(token_count)
    if total_tokens == 0:
        raise MetricInputError("no tokens to score; each text needs at least two tokens")
    per_text = [math.exp(loss / count) for loss, count in zip(nll, token_count, strict=True) if count]
    return {"perplexity": math.exp(sum(nll) / total_tokens), "mean_perplexity": sum(per_text) / len(per_text),
            "tokens": total_tokens}


class _RougeTokenizer:
    def tokenize(self, text: str) -> list[str]:
        return answer_tokens(text)


def _token_f1(predicted: str, answer: str) -> float:
    predicted_tokens, answer_tokens_ = answer_tokens(predicted), answer_tokens(answer)
    if not predicted_tokens or not answer_tokens_:
        return float(predicted_tokens == answer_tokens_)
    common = sum((Counter(predicted_tokens) & Counter(answer_tokens_)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted_tokens), common / len(answer_tokens_)
    return 2 * precision * recall / (precision + recall)


def _prf(hit: int, found: int, gold: int) -> tuple[float, float, float]:
    precision = hit / found if found else 0.0
    recall = hit / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _check_lengths(predictions, references) -> None:
    if len(predictions) != len(references):
        raise MetricInputError(f"{len(predictions)} predictions but {len(references)} references")


_PUNCTUATION = set(string.punctuation) | set("，。！？；：、“”‘’（）《》【】…—")
_CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK = re.compile(f"[{_CJK_RANGES}]")
_CJK_SPLIT = re.compile(f"([{_CJK_RANGES}])")
