"""Tokenize dataset rows for each task, and map QA logits back to answer text."""

import collections

from ptmcli.engine.data import Columns, run_map
from ptmcli.errors import UsageError
from ptmcli.i18n import _

IGNORE_INDEX = -100  # the label id that torch's cross-entropy skips


def tokenize_dataset(dataset, tokenizer, task: str, columns: Columns, *, max_length: int, num_proc: int | None,
                     for_training: bool = True, stride: int | None = None):
    """Tokenize one split for a task, dropping the raw columns except those evaluation still needs."""
    if task in ("token-classification", "question-answering") and not getattr(tokenizer, "is_fast", False):
        raise UsageError(_("{task} needs a fast tokenizer for word and character offsets").format(task=task),
                         hint=_("use a model folder with tokenizer.json"))
    # Windows of a long QA context overlap by a quarter of the window, 128 tokens at --max-length 512.
    stride = stride if stride is not None else max_length // 4
    if task == "text-classification":
        function = _classification_function(tokenizer, columns, max_length)
    elif task == "token-classification":
        function = _token_function(tokenizer, columns, max_length)
    elif for_training:
        function = _qa_train_function(tokenizer, columns, max_length, stride)
    else:
        function = _qa_eval_function(tokenizer, columns, max_length, stride)
    return run_map(dataset, function, num_proc=num_proc, remove_columns=dataset.column_names,
                   description=_("tokenizing"))


# SentencePiece and byte-level BPE write a word boundary as its own piece when no vocabulary entry
# joins it to the word, as XLM-R's tokenizer does for most Chinese characters ("▁", "中").
BOUNDARY_PIECES = {"\u2581", "\u0120"}


def align_labels(word_ids: list[int | None], word_labels: list[int], tokens: list[str] | None = None) -> list[int]:
    """Give each word's label to its first piece and IGNORE_INDEX to later pieces and special tokens.

    A piece that is only a word-boundary marker carries none of the word's characters, so the label
    goes to the next piece of the same word instead; a model could not tell the words apart there.
    """
    labels = [IGNORE_INDEX] * len(word_ids)
    labelled: set[int] = set()
    for position, word in enumerate(word_ids):
        if word is None or word in labelled:
            continue
        boundary_only = tokens is not None and tokens[position] in BOUNDARY_PIECES
        next_is_same_word = position + 1 < len(word_ids) and word_ids[position + 1] == word
        if boundary_only and next_is_same_word:
            continue
        labels[position] = word_labels[word]
        labelled.add(word)
    return labels


def _classification_function(tokenizer, columns: Columns, max_length: int):
    def tokenize_texts(batch):
        pairs = batch[columns.text_pair] if columns.text_pair else None
        encoded = tokenizer(_as_text(batch[columns.text]), _as_text(pairs) if pairs else None,
                            truncation=True, max_length=max_length)
        if columns.label and columns.label in batch:
            encoded["labels"] = batch[columns.label]
        return encoded

    return tokenize_texts


def _token_function(tokenizer, columns: Columns, max_length: int):
    def tokenize_words(batch):
        words = [[str(word) for word in row] for row in batch[columns.tokens]]
        # Truncation comes after the boundary pieces are dropped, so that a row keeps max_length
        # real pieces rather than half as many.
        encoded = tokenizer(words, is_split_into_words=True, truncation=False)
        rows = {name: [] for name in encoded.keys()}
        labels = []
        for index in range(len(words)):
            word_ids = encoded.word_ids(index)
            tokens = encoded.tokens(index)
            keep = _truncate(_without_cjk_boundaries(word_ids, tokens), word_ids, max_length)
            for name, values in encoded.items():
                rows[name].append([values[index][position] for position in keep])
            if columns.label and columns.label in batch:
                labels.append(align_labels([word_ids[position] for position in keep], batch[columns.label][index],
                                           [tokens[position] for position in keep]))
        if labels:
            rows["labels"] = labels
        return rows

    return tokenize_words


def _without_cjk_boundaries(word_ids: list[int | None], tokens: list[str]) -> list[int]:
    """Return the positions to keep, leaving out a boundary piece that comes before a CJK character.

    With words given one character each, XLM-R style tokenizers write "▁" before nearly every Chinese
    character ("▁", "统", "▁", "计"), which doubles the length of a sentence. Chinese separates no
    words with spaces, so those markers carry nothing that the joined text would have.
    """
    keep = []
    for position, token in enumerate(tokens):
        following = position + 1
        if (token in BOUNDARY_PIECES and word_ids[position] is not None and following < len(tokens)
                and word_ids[following] == word_ids[position] and _starts_with_cjk(tokens[following])):
            continue
        keep.append(position)
    return keep


def _truncate(keep: list[int], word_ids: list[int | None], max_length: int) -> list[int]:
    """Cut the kept positions to max_length, keeping the closing special tokens such as [SEP] or </s>."""
    if len(keep) <= max_length:
        return keep
    closing = 0
    while closing < len(keep) and word_ids[keep[-1 - closing]] is None:
        closing += 1
    return keep[:max_length - closing] + keep[len(keep) - closing:]


def _starts_with_cjk(token: str) -> bool:
    """Report whether a piece starts with a CJK ideograph or CJK punctuation such as 。 and 、."""
    return bool(token) and ("\u4e00" <= token[0] <= "\u9fff" or "\u3400" <= token[0] <= "\u4dbf"
                            or "\uf900" <= token[0] <= "\ufaff" or "\u3000" <= token[0] <= "\u303f")


def _qa_inputs(tokenizer, batch, columns: Columns, max_length: int, stride: int):
    # The context is truncated, never the question, and long contexts become several windows.
    questions = [question.lstrip() for question in batch[columns.question]]
    return tokenizer(questions, batch[columns.context], truncation="only_second", max_length=max_length,
                     stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                     padding="max_length")


def _qa_train_function(tokenizer, columns: Columns, max_length: int, stride: int):
    def tokenize_qa_train(batch):
        encoded = _qa_inputs(tokenizer, batch, columns, max_length, stride)
        sample_map = encoded.pop("overflow_to_sample_mapping")
        offsets = encoded.pop("offset_mapping")
        starts, ends = [], []
        for index, offset in enumerate(offsets):
            answers = batch[columns.answers][sample_map[index]]
            sequence_ids = encoded.sequence_ids(index)
            start, end = _answer_positions(answers, offset, sequence_ids)
            starts.append(start)
            ends.append(end)
        encoded["start_positions"] = starts
        encoded["end_positions"] = ends
        return encoded

    return tokenize_qa_train


def _qa_eval_function(tokenizer, columns: Columns, max_length: int, stride: int):
    def tokenize_qa_eval(batch):
        encoded = _qa_inputs(tokenizer, batch, columns, max_length, stride)
        sample_map = encoded.pop("overflow_to_sample_mapping")
        ids = batch["id"] if "id" in batch else [str(i) for i in range(len(batch[columns.question]))]
        encoded["example_id"] = [str(ids[sample]) for sample in sample_map]
        # Offsets outside the context are blanked so that an answer can never come from the question.
        encoded["offset_mapping"] = [
            [span if sequence_id == 1 else None for span, sequence_id in zip(offset, encoded.sequence_ids(index),
                                                                             strict=True)]
            for index, offset in enumerate(encoded["offset_mapping"])
        ]
        return encoded

    return tokenize_qa_eval


def _answer_positions(answers, offset, sequence_ids) -> tuple[int, int]:
    """Return the token span of the first answer, or (0, 0) (the [CLS] position) when the window misses it."""
    if not answers["answer_start"]:
        return 0, 0
    start_char = answers["answer_start"][0]
    end_char = start_char + len(answers["text"][0])
    context_start = sequence_ids.index(1)
    context_end = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
    if offset[context_start][0] > start_char or offset[context_end][1] < end_char:
        return 0, 0
    start = context_start
    while start <= context_end and offset[start][0] <= start_char:
        start += 1
    end = context_end
    while end >= context_start and offset[end][1] >= end_char:
        end -= 1
    return start - 1, end + 1


def qa_answers(examples, features, start_logits, end_logits, *, n_best: int = 20,
               max_answer_length: int = 30) -> dict[str, str]:
    """Pick the best-scoring valid span per example across its windows, as answer text keyed by example id."""
    by_example = collections.defaultdict(list)
    for index, example_id in enumerate(features["example_id"]):
        by_example[example_id].append(index)
    ids = examples["id"] if "id" in examples.column_names else [str(i) for i in range(len(examples))]
    answers = {}
    for example_id, context in zip(ids, examples["context"], strict=True):
        best_text, best_score = "", float("-inf")
        for feature_index in by_example[str(example_id)]:
            offsets = features[feature_index]["offset_mapping"]
            starts = _top(start_logits[feature_index], n_best)
            ends = _top(end_logits[feature_index], n_best)
            for start in starts:
                for end in ends:
                    if offsets[start] is None or offsets[end] is None:
                        continue
                    if end < start or end - start + 1 > max_answer_length:
                        continue
                    score = start_logits[feature_index][start] + end_logits[feature_index][end]
                    if score > best_score:
                        best_score = score
                        best_text = context[offsets[start][0]:offsets[end][1]]
        answers[str(example_id)] = best_text
    return answers


def _top(logits, count: int) -> list[int]:
    return sorted(range(len(logits)), key=lambda index: logits[index], reverse=True)[:count]


def _as_text(values):
    return ["" if value is None else str(value) for value in values]
