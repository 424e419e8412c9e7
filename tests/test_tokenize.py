"""`ptm tokenize` on the real bert-base-chinese and GPT-2 tokenizers (field cases B01-B17, B32, B33)."""

import pytest

pytestmark = pytest.mark.usefixtures("gpt2_tokenizer")

BBC = "bert-base-chinese"


def ids_of(ptm, model, *texts, extra=()):
    result = ptm("tokenize", "-m", model, *extra, "--format", "jsonl", *texts)
    assert result.exit_code == 0, result.stderr
    return [record["ids"] for record in result.jsonl()]


def test_bert_chinese_acceptance_ids(ptm):
    result = ptm("tokenize", "--model", BBC, "我来自中国", "--format", "json")
    assert result.exit_code == 0
    record = result.json()
    assert record["ids"] == [101, 2769, 3341, 5632, 704, 1744, 102]
    assert record["tokens"] == ["[CLS]", "我", "来", "自", "中", "国", "[SEP]"]
    assert record["token_type_ids"] == [0] * 7
    assert record["attention_mask"] == [1] * 7


def test_bert_chinese_offline_copy_notice(ptm):
    result = ptm("tokenize", "--model", BBC, "我来自中国")
    assert "offline copy 'bert-base-chinese-tokenizer'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.real
def test_gpt2_acceptance_ids(ptm):
    result = ptm("tokenize", "--model", "gpt2", "我喜欢吃炸", "--format", "json")
    assert result.json()["ids"] == [22755, 239, 161, 244, 250, 162, 105, 95, 28938, 225, 163, 224, 116]


def test_uppercase_latin_is_unknown(ptm):
    assert ids_of(ptm, BBC, "A", "AAA", "我爱NLP", "我爱nlp", "Apples是苹果的复数形式。") == [
        [101, 100, 102],
        [101, 100, 102],
        [101, 2769, 4263, 100, 102],
        [101, 2769, 4263, 156, 10986, 102],
        [101, 100, 3221, 5741, 3362, 4638, 1908, 3144, 2501, 2466, 511, 102],
    ]


def test_unknown_piece_points_at_source(ptm):
    record = ptm("tokenize", "-m", BBC, "我爱NLP", "-F", "json").json()
    unknown = [piece for piece in record["pieces"] if piece["unknown"]]
    assert len(unknown) == 1
    assert (unknown[0]["start"], unknown[0]["end"]) == (2, 5)
    assert unknown[0]["source"] == "NLP"
    assert record["unknown_count"] == 1


def test_unknown_shown_in_table(ptm):
    result = ptm("tokenize", "-m", BBC, "我爱NLP", "-F", "table")
    assert "[UNK]" in result.stdout
    assert "unknown: 'NLP' at 2-5" in result.stdout


def test_emoji_and_heart(ptm):
    assert ids_of(ptm, BBC, "我爱你😊", "我❤你", "glad😊", "glad 😊") == [
        [101, 2769, 4263, 872, 100, 102],
        [101, 2769, 506, 872, 102],
        [101, 100, 102],
        [101, 9101, 8695, 100, 102],
    ]


def test_digits_stay_multi_digit_pieces(ptm):
    record = ptm("tokenize", "-m", BBC, "2004年06月25日", "-F", "json").json()
    assert record["tokens"][1:-1] == ["2004", "年", "06", "月", "25", "日"]
    assert record["ids"] == [101, 8258, 2399, 8116, 3299, 8132, 3189, 102]


def test_decode_keeps_unknown_by_default(ptm):
    result = ptm("tokenize", "-m", BBC, "--decode", "101 2769 4263 100 102")
    assert result.stdout == "[CLS] 我 爱 [UNK] [SEP]\n"


def test_decode_skip_special_drops_unknown(ptm):
    result = ptm("tokenize", "-m", BBC, "--decode", "--skip-special-tokens", "[101, 2769, 4263, 100, 102]")
    assert result.stdout == "我 爱\n"


def test_source_text_comes_from_offsets(ptm):
    text = "貌似还是没有完全修复。  http://example.com/a.b.c"
    record = ptm("tokenize", "-m", BBC, text, "-F", "json").json()
    for piece in record["pieces"]:
        if piece["start"] is not None:
            assert piece["source"] == text[piece["start"]:piece["end"]]


@pytest.mark.real
def test_gpt2_byte_level_cases(ptm):
    assert ids_of(ptm, "gpt2", "是", "東", "東京", "我说你倒是快点啊") == [
        [42468],
        [30266, 109],
        [30266, 109, 12859, 105],
        [22755, 239, 46237, 112, 19526, 254, 161, 222, 240, 42468, 33232, 104, 163, 224, 117, 161, 243, 232],
    ]


@pytest.mark.real
def test_gpt2_pieces_map_to_one_character(ptm):
    record = ptm("tokenize", "-m", "gpt2", "東", "-F", "json").json()
    first, second = record["pieces"]
    assert first["bytes"] == "e6 9d"
    assert second["bytes"] == "b1"
    assert first["partial"] and second["partial"]
    assert first["source"] == second["source"] == "東"
    assert (first["start"], first["end"]) == (second["start"], second["end"]) == (0, 1)


@pytest.mark.real
def test_gpt2_table_shows_bytes(ptm):
    result = ptm("tokenize", "-m", "gpt2", "我", "-F", "table")
    assert "e6 88" in result.stdout
    assert "part of '我'" in result.stdout


@pytest.mark.real
def test_gpt2_decode_newline(ptm):
    result = ptm("tokenize", "-m", "gpt2", "--decode", "-F", "json", "198")
    assert result.json()["text"] == "\n"


@pytest.mark.real
def test_gpt2_padding_uses_eos(ptm):
    result = ptm("tokenize", "-m", "gpt2", "--padding", "max_length", "--max-length", "10", "-F", "jsonl",
                 "This is a sample", "This is another longer sample text")
    assert result.exit_code == 0
    short, long = result.jsonl()
    assert short["ids"][4:] == [50256] * 6
    assert short["attention_mask"] == [1] * 4 + [0] * 6
    assert len(long["ids"]) == 10
    assert "end-of-sequence token <|endoftext|> (id 50256)" in result.stderr


def test_pair_marks_segments(ptm):
    record = ptm("tokenize", "-m", BBC, "我来自中国", "--pair", "你好", "-F", "json").json()
    assert record["ids"] == [101, 2769, 3341, 5632, 704, 1744, 102, 872, 1962, 102]
    assert record["token_type_ids"] == [0] * 7 + [1] * 3
    assert record["pieces"][7]["source"] == "你"
    assert record["pieces"][7]["segment"] == 1


@pytest.mark.real
def test_gpt2_has_no_token_type_ids(ptm):
    record = ptm("tokenize", "-m", "gpt2", "a", "--pair", "b", "-F", "json").json()
    assert record["token_type_ids"] is None


def test_long_input_warns_and_truncates(ptm):
    text = "字" * 600
    result = ptm("tokenize", "-m", BBC, "--count", text)
    assert result.stdout == "602\n"
    assert "(602 > 512)" in result.stderr
    truncated = ptm("tokenize", "-m", BBC, "--truncation", "longest_first", "--max-length", "512", "-F", "json",
                    text).json()
    assert len(truncated["ids"]) == 512
    assert truncated["ids"][-1] == 102
    assert truncated["truncated_tokens"] == 90


def test_no_special_tokens(ptm):
    assert ids_of(ptm, BBC, "我来自中国", extra=("--no-special-tokens",)) == [[2769, 3341, 5632, 704, 1744]]


def test_pipe_modes(ptm):
    assert ptm("tokenize", "-m", BBC, "--ids", "我来自中国").stdout == "101 2769 3341 5632 704 1744 102\n"
    assert ptm("tokenize", "-m", BBC, "--tokens", "我爱NLP").stdout == "[CLS] 我 爱 [UNK] [SEP]\n"
    assert ptm("tokenize", "-m", BBC, "--count", "我爱NLP", "中国").stdout == "5\n4\n"


def test_pipe_modes_cannot_combine(ptm):
    result = ptm("tokenize", "-m", BBC, "--ids", "--count", "我")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: --ids cannot be combined with --count")


@pytest.mark.real
def test_compare_tokenizers(ptm):
    result = ptm("tokenize", "-m", BBC, "-m", "gpt2", "我爱NLP", "-F", "table")
    assert result.exit_code == 0
    assert "tokens/char" in result.stdout
    assert "0.60" in result.stdout  # bert-base-chinese: 3 tokens for 5 characters
    assert "1 (33%)" in result.stdout
    records = ptm("tokenize", "-m", BBC, "-m", "gpt2", "我爱NLP", "-F", "jsonl").jsonl()
    assert [record["model"] for record in records] == [BBC, "gpt2"]


def test_stdin_lines(ptm):
    result = ptm("tokenize", "-m", BBC, "--ids", "-", stdin="我来自中国\n\n中国\n".encode())
    assert result.stdout == "101 2769 3341 5632 704 1744 102\n101 704 1744 102\n"
    assert "skipped 1 empty line" in result.stderr


def test_invalid_utf8_stdin_is_one_line_error(ptm):
    result = ptm("tokenize", "-m", BBC, "-", stdin=b"\xff\xfe\xe4\xbd\xa0\xe5\xa5\xbd\n")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert "byte 0xff at offset 0" in result.stderr
    assert "Traceback" not in result.stderr


def test_invalid_utf8_replaced_on_request(ptm):
    result = ptm("tokenize", "-m", BBC, "--encoding-errors", "replace", "-F", "json", "-",
                 stdin=b"\xff\xfe\xe4\xbd\xa0\xe5\xa5\xbd\n")
    record = result.json()
    assert record["text"] == "\ufffd\ufffd你好"
    assert record["ids"] == [101, 872, 1962, 102]


def test_invalid_utf8_argument_is_one_line_error(ptm):
    # Python passes the argument bytes b"\xff\xe4\xbd\xa0" on as "\udcff你".
    result = ptm("tokenize", "-m", BBC, "\udcff你好")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "text argument 1 is not valid UTF-8: byte 0xff at offset 0" in result.stderr


def test_invalid_utf8_argument_replaced_on_request(ptm):
    record = ptm("tokenize", "-m", BBC, "--encoding-errors", "replace", "-F", "json", "\udcff你好").json()
    assert record["text"] == "\ufffd你好"
    assert record["ids"] == [101, 872, 1962, 102]


def test_file_input(ptm, tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("我来自中国\r\n中国\r\n", encoding="utf-8")
    result = ptm("tokenize", "-m", BBC, "--count", "--file", str(path))
    assert result.stdout == "7\n4\n"


def test_missing_file(ptm, tmp_path):
    result = ptm("tokenize", "-m", BBC, "--file", str(tmp_path / "missing.txt"))
    assert result.exit_code == 2
    assert "not found" in result.stderr


def test_empty_text_rejected(ptm):
    result = ptm("tokenize", "-m", BBC, "")
    assert result.exit_code == 2
    assert result.stderr == "Error: text argument 1 is empty (pass a non-empty text)\n"


def test_decode_rejects_words(ptm):
    result = ptm("tokenize", "-m", BBC, "--decode", "hello")
    assert result.exit_code == 2
    assert "is not a list of token ids" in result.stderr


def test_decode_rejects_out_of_vocab(ptm):
    result = ptm("tokenize", "-m", BBC, "--decode", "99999")
    assert result.exit_code == 2
    assert "outside this vocabulary (0 to 21127)" in result.stderr


@pytest.mark.real
@pytest.mark.parametrize("detail", ["pieces", "tokens"])
def test_tokens_match_convert_ids_to_tokens(bbc_tokenizer, gpt2_tokenizer, detail):
    from ptmcli.engine.tokenize import TokenizeOptions, tokenize

    texts = ["我来自中国[SEP]", "I like eating fried 炸鸡 <|endoftext|>"]
    for tokenizer in (bbc_tokenizer, gpt2_tokenizer):
        results = tokenize(tokenizer, texts, options=TokenizeOptions(detail=detail))
        for result in results:
            assert result.tokens == tokenizer.convert_ids_to_tokens(result.ids)
            assert result.ids == tokenizer(result.text)["input_ids"]
        assert [bool(result.pieces) for result in results] == [detail == "pieces"] * 2


@pytest.mark.real
def test_ids_detail_skips_tokens_and_masks(bbc_tokenizer):
    from ptmcli.engine.tokenize import TokenizeOptions, tokenize

    full, lean = (tokenize(bbc_tokenizer, ["我来自中国"], ["你好"], options=TokenizeOptions(detail=detail))[0]
                  for detail in ("pieces", "ids"))
    assert lean.ids == full.ids == [101, 2769, 3341, 5632, 704, 1744, 102, 872, 1962, 102]
    assert full.token_type_ids == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]
    assert (lean.tokens, lean.token_type_ids, lean.special_tokens_mask, lean.pieces) == (None, None, None, [])
