"""Masked language modelling: fill [MASK] with an MLM head, and show BERT's pre-training masking.

BERT's objective selects 15% of the tokens; of those, 80% become [MASK], 10% a random token and 10%
stay unchanged, and the model learns to predict the original token at every selected position.
The demonstration runs transformers' own `DataCollatorForLanguageModeling`, so that what ptm shows
is what a training run with that collator does.
"""

import logging
import unicodedata
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _

log = logging.getLogger("ptmcli")


@dataclass(frozen=True)
class Filler:
    id: int
    token: str
    probability: float


@dataclass(frozen=True)
class MaskSlot:
    """One mask in the input and the most likely tokens for it."""

    index: int  # token position in input_ids
    candidates: list[Filler]


@dataclass(frozen=True)
class FillResult:
    text: str
    tokens: list[str]
    masks: list[MaskSlot]
    filled: str  # the text with every mask replaced by its most likely token

    def as_record(self) -> dict:
        return asdict(self)


def normalize_mask(tokenizer, text: str) -> str:
    """Accept both [MASK] and <mask>, whichever the tokenizer calls its mask token."""
    mask = tokenizer.mask_token
    for spelling in ("[MASK]", "<mask>"):
        if spelling != mask:
            text = text.replace(spelling, mask)
    return text


def check_mlm_head(model, location: str, name: str | None = None) -> None:
    """Fail when the checkpoint has no weights for the MLM head, which transformers would fill with random values.

    The check reads the tensor names of local safetensors files; where none are found it is skipped.
    """
    names = _checkpoint_tensor_names(location)
    if names is None:
        return
    prefix = getattr(model, "base_model_prefix", "")
    # named_parameters() lists a tied output projection once, under the input embeddings' name.
    head = [name for name, _ in model.named_parameters() if not name.startswith(prefix + ".")]
    if head and not any(name in names or name.removeprefix(prefix + ".") in names for name in head):
        raise PtmError(
            _("'{model}' has no masked-language-model head: its checkpoint has no weights for {names}, so "
              "predictions would be random").format(model=name or location, names=", ".join(head[:2])),
            hint=_("use a checkpoint saved with its MLM head, such as bert-base-chinese or a *ForMaskedLM folder; "
                   "sentence-embedding models such as minilm have none"),
        )


def _checkpoint_tensor_names(location: str) -> set[str] | None:
    folder = Path(location)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(location, local_files_only=True))
        except Exception:  # not cached as a snapshot: nothing to inspect
            return None
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    from safetensors import safe_open

    names: set[str] = set()
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            names.update(handle.keys())
    return names


def fill_mask(model, tokenizer, texts: list[str], top_k: int = 5) -> list[FillResult]:
    """Predict every mask of every text: the top_k tokens with their probabilities."""
    import torch

    if tokenizer.mask_token is None:
        raise PtmError(_("this tokenizer has no mask token"), hint=_("use a BERT-style masked language model"))
    texts = [normalize_mask(tokenizer, text) for text in texts]
    for text in texts:
        if tokenizer.mask_token not in text:
            raise UsageError(_("'{text}' contains no {mask}").format(text=text, mask=tokenizer.mask_token),
                             hint=_("put {mask} where a token should be predicted, for example: 我来自{mask}国")
                             .format(mask=tokenizer.mask_token))
    results = []
    for text in texts:
        inputs = tokenizer(text, return_tensors="pt", truncation=True).to(model.device)
        with torch.inference_mode():
            logits = model(**inputs).logits[0]
        ids = inputs["input_ids"][0].tolist()
        slots = []
        for index, token_id in enumerate(ids):
            if token_id != tokenizer.mask_token_id:
                continue
            probabilities = torch.softmax(logits[index].float(), dim=-1)
            best = torch.topk(probabilities, k=min(top_k, probabilities.shape[-1]))
            slots.append(MaskSlot(index=index, candidates=[
                Filler(int(candidate), tokenizer.convert_ids_to_tokens(int(candidate)), float(probability))
                for probability, candidate in zip(best.values, best.indices, strict=True)
            ]))
        filled = text
        for slot in slots:
            filled = filled.replace(tokenizer.mask_token, _surface(slot.candidates[0].token), 1)
        results.append(FillResult(text=text, tokens=tokenizer.convert_ids_to_tokens(ids), masks=slots,
                                  filled=filled))
    return results


def _surface(token: str) -> str:
    return token.removeprefix("##").replace("▁", " ").replace("Ġ", " ")


KIND_MASK = "mask"
KIND_RANDOM = "random"
KIND_UNCHANGED = "unchanged"


@dataclass(frozen=True)
class MaskedPosition:
    index: int
    token: str  # the original token, which the model must predict
    replacement: str  # what the model sees
    kind: str  # "mask", "random" or "unchanged"


@dataclass(frozen=True)
class MaskingDemo:
    """One application of BERT's pre-training masking to a text."""

    text: str
    seed: int | None
    whole_word: bool
    segmenter: str | None  # how words were found for --whole-word: "word_ids" or "jieba"
    tokens: list[str]
    input_tokens: list[str]
    input_ids: list[int]
    labels: list[int]  # the original id at selected positions, -100 elsewhere (ignored by the loss)
    words: list[str] | None  # the words used by --whole-word
    selected: list[MaskedPosition]
    candidates: int  # tokens that could be selected (special tokens never are)

    def as_record(self) -> dict:
        return asdict(self)


def show_masking(tokenizer, text: str, *, seed: int | None = None, whole_word: bool = False,
                 mlm_probability: float = 0.15) -> MaskingDemo:
    """Mask one text as `DataCollatorForLanguageModeling` does during BERT pre-training."""
    from transformers import DataCollatorForLanguageModeling

    if tokenizer.mask_token is None:
        raise PtmError(_("this tokenizer has no mask token"), hint=_("use a BERT-style tokenizer"))
    encoding = tokenizer(text, return_special_tokens_mask=True, return_offsets_mapping=True, truncation=True)
    example = {"input_ids": encoding["input_ids"], "special_tokens_mask": encoding["special_tokens_mask"]}
    words = segmenter = None
    if whole_word:
        word_ids, words, segmenter = _word_ids(tokenizer, text, encoding)
        example["offset_mapping"] = _offsets_from_word_ids(word_ids)
    with warnings.catch_warnings():
        # transformers 5 warns that whole-word masking drops the random replacement; ptm says so itself.
        warnings.simplefilter("ignore", UserWarning)
        collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=mlm_probability,
                                                   whole_word_mask=whole_word, seed=seed)
    if whole_word and collator.mask_replace_prob == 1:
        log.warning(_("with --whole-word, transformers' collator supports no random replacement, so every selected "
                      "token becomes [MASK] (no 10% random, no 10% unchanged)"))
    batch = collator([example])
    original = encoding["input_ids"]
    masked = batch["input_ids"][0].tolist()
    labels = batch["labels"][0].tolist()
    selected = []
    for index, label in enumerate(labels):
        if label == -100:
            continue
        if masked[index] == tokenizer.mask_token_id:
            kind = KIND_MASK
        elif masked[index] == original[index]:
            kind = KIND_UNCHANGED
        else:
            kind = KIND_RANDOM
        selected.append(MaskedPosition(index=index, token=tokenizer.convert_ids_to_tokens(original[index]),
                                       replacement=tokenizer.convert_ids_to_tokens(masked[index]), kind=kind))
    return MaskingDemo(
        text=text,
        seed=seed,
        whole_word=whole_word,
        segmenter=segmenter,
        tokens=tokenizer.convert_ids_to_tokens(original),
        input_tokens=tokenizer.convert_ids_to_tokens(masked),
        input_ids=masked,
        labels=labels,
        words=words,
        selected=selected,
        candidates=len(original) - sum(encoding["special_tokens_mask"]),
    )


def _is_cjk(char: str) -> bool:
    return unicodedata.name(char, "").startswith("CJK")


def _word_ids(tokenizer, text: str, encoding) -> tuple[list[int | None], list[str], str]:
    """Give each token the index of its word; special tokens get None.

    BERT's pre-tokenizer makes every Chinese character a word of its own, so Chinese text is
    segmented with jieba instead, and a token belongs to the jieba word that contains its first character.
    """
    if not any(_is_cjk(char) for char in text):
        word_ids = encoding.word_ids()
        words = []
        for word in sorted({word for word in word_ids if word is not None}):
            start, end = encoding.word_to_chars(word)
            words.append(text[start:end])
        return word_ids, words, "word_ids"
    try:
        import jieba
    except ImportError as error:
        raise PtmError(_("--whole-word on Chinese text needs the jieba word segmenter, which is not installed"),
                       hint=_("pip install jieba")) from error
    jieba.setLogLevel(logging.WARNING)
    word_at = [0] * len(text)
    words = []
    position = 0
    for word in jieba.cut(text):
        if word.strip():
            for offset in range(position, position + len(word)):
                word_at[offset] = len(words)
            words.append(word)
        position += len(word)
    word_ids: list[int | None] = []
    for (start, end), special in zip(encoding["offset_mapping"], encoding["special_tokens_mask"], strict=True):
        word_ids.append(None if special or end <= start else word_at[start])
    return word_ids, words, "jieba"


def _offsets_from_word_ids(word_ids: list[int | None]) -> list[tuple[int, int]]:
    """Synthetic offsets that are contiguous inside a word and leave a gap between words.

    transformers 5's collator finds whole words from gaps in offset_mapping; these offsets make it
    follow the given word ids exactly.
    """
    offsets = []
    position = 0
    previous = None
    for word in word_ids:
        if word is None:
            offsets.append((0, 0))
            previous = None
            continue
        if word != previous:
            position += 1
        offsets.append((position, position + 1))
        position += 1
        previous = word
    return offsets
