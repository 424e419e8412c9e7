"""T5 span corruption: noise density, span lengths and round trips over many seeds (pure Python, no model)."""

import random
import statistics

import pytest

from ptmcli.engine.corruption import corrupt, noise_mask, reconstruct, word_sentinels
from ptmcli.errors import UsageError

SEEDS = range(200)
SENTINELS = word_sentinels(200)


def words(count: int) -> list[str]:
    return [f"w{index}" for index in range(count)]


@pytest.mark.parametrize("length", [20, 57, 100, 512])
@pytest.mark.parametrize(("density", "mean_span"), [(0.15, 3), (0.3, 3), (0.15, 1), (0.5, 5)])
def test_density_and_span_length(length, density, mean_span):
    tokens = words(length)
    densities, span_means, span_lengths = [], [], set()
    for seed in SEEDS:
        pair = corrupt(tokens, SENTINELS, noise_density=density, mean_span_length=mean_span, seed=seed)
        densities.append(pair.noise_tokens / length)
        span_means.append(pair.noise_tokens / len(pair.spans))
        span_lengths.update(len(span.tokens) for span in pair.spans)
        assert reconstruct(pair.input_tokens, pair.target_tokens, SENTINELS) == tokens
    # The noise count is round(length × density), so the density is off by at most half a token.
    assert max(abs(value - density) for value in densities) <= 0.5 / length + 1e-12
    # The span count is round(noise / mean), so the mean span length is within half a span of the request;
    # for these lengths that is at most 25% (20 tokens at density 0.15 give 3 noise tokens in 1 span).
    assert statistics.mean(span_means) == pytest.approx(mean_span, rel=0.25)
    if mean_span > 1 and length >= 100:
        assert statistics.mean(span_means) == pytest.approx(mean_span, rel=0.1)
        assert len(span_lengths) > 1  # span lengths vary around the mean, they are not all equal


def test_every_position_can_be_corrupted():
    length = 60
    hits = [0] * length
    for seed in range(1000):
        for index, is_noise in enumerate(noise_mask(length, 0.15, 3, random.Random(seed))):
            hits[index] += is_noise
    # Runs start with kept tokens, so the first token is never noise; all others are sometimes.
    assert hits[0] == 0
    assert all(count > 0 for count in hits[1:])
    assert sum(hits) / (1000 * length) == pytest.approx(0.15, abs=0.5 / length)


def test_pair_layout():
    tokens = "Thank you for inviting me to your party last week .".split()
    for seed in SEEDS:
        pair = corrupt(tokens, SENTINELS, seed=seed)
        spans = len(pair.spans)
        assert [token for token in pair.input_tokens if token.startswith("<extra_id_")] == SENTINELS[:spans]
        assert pair.target_tokens[0] == "<extra_id_0>"
        assert pair.target_tokens[-1] == SENTINELS[spans]
        # Two spans never touch: a kept token separates them, so each sentinel stands for one run.
        for first, second in zip(pair.spans, pair.spans[1:], strict=False):
            assert second.start > first.start + len(first.tokens)
        assert len(pair.input_tokens) + len(pair.target_tokens) == len(tokens) + 2 * spans + 1


def test_same_seed_same_pair():
    tokens = words(40)
    assert corrupt(tokens, SENTINELS, seed=9) == corrupt(tokens, SENTINELS, seed=9)
    assert any(corrupt(tokens, SENTINELS, seed=9).spans != corrupt(tokens, SENTINELS, seed=other).spans
               for other in range(10, 20))


@pytest.mark.parametrize(("options", "message"), [
    ({"noise_density": 0}, "--noise-density must be between 0 and 1"),
    ({"noise_density": 1.0}, "--noise-density must be between 0 and 1"),
    ({"mean_span_length": 0.5}, "--mean-span-length must be at least 1"),
])
def test_invalid_parameters(options, message):
    with pytest.raises(UsageError, match=message):
        corrupt(words(10), SENTINELS, **options)


def test_too_short_and_too_many_spans():
    with pytest.raises(UsageError, match="at least 2 tokens"):
        corrupt(["one"], SENTINELS)
    with pytest.raises(UsageError, match="more than 2 sentinel tokens"):
        corrupt(words(100), word_sentinels(3), noise_density=0.5, mean_span_length=1, seed=0)


def test_cli_invalid_density(ptm):
    result = ptm("t5", "corrupt", "--noise-density", "1.5", "a b c")
    assert result.exit_code == 2
    assert "--noise-density must be between 0 and 1" in result.stderr
