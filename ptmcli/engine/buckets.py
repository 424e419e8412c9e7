"""T5 relative position buckets in pure Python, so that `ptm bucket` answers without importing torch.

T5 gives attention a learned bias per bucket of the relative position `key_pos - query_pos`. Small
distances get a bucket each; larger ones share buckets whose width grows logarithmically up to
`max_distance`, and every distance beyond that shares the last bucket. In bidirectional attention
(the encoder) keys after the query use the upper half of the buckets; in causal attention (decoder
self-attention) every key after the query is masked and maps to bucket 0. Cross-attention has no
position bias at all.
"""

import json
import math
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ptmcli.errors import PtmError, UsageError
from ptmcli.i18n import _

DEFAULT_NUM_BUCKETS = 32
DEFAULT_MAX_DISTANCE = 128


def _float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def relative_position_bucket(relative_position: int, *, bidirectional: bool = True,
                             num_buckets: int = DEFAULT_NUM_BUCKETS, max_distance: int = DEFAULT_MAX_DISTANCE) -> int:
    """Map one relative position (key minus query) to its bucket, as `T5Attention._relative_position_bucket`.

    transformers computes the logarithmic part in float32, so each step here is rounded to float32
    too. Without that rounding, distances such as 16 for 32 buckets would land one bucket lower.
    """
    offset = 0
    buckets = num_buckets
    if bidirectional:
        buckets //= 2
        if relative_position > 0:
            offset = buckets
        distance = abs(relative_position)
    else:
        distance = max(-relative_position, 0)

    max_exact = buckets // 2
    if distance < max_exact:
        return offset + distance
    # NOTE: torch's vectorised float32 log is not always correctly rounded, so on a value where the exact
    # quotient is a whole number the two can differ by one bucket. A sweep of num_buckets 4..69 and
    # max_distance 2..299 (52 million positions, transformers 5.25, torch 2.13 CPU) found 16 such
    # positions, none for the bucket counts and distances of published T5 models.
    ratio = _float32(_float32(float(distance)) / max_exact)
    log_ratio = _float32(math.log(ratio))
    scaled = _float32(log_ratio / _float32(math.log(max_distance / max_exact)))
    large = max_exact + int(_float32(scaled * (buckets - max_exact)))
    return offset + min(large, buckets - 1)


def validate(num_buckets: int, max_distance: int, bidirectional: bool) -> None:
    """Reject settings for which the formula divides by zero or has no exact buckets."""
    half = num_buckets // 2 if bidirectional else num_buckets
    max_exact = half // 2
    minimum = 4 if bidirectional else 2
    if num_buckets < minimum:
        raise UsageError(
            _("--num-buckets must be at least {minimum} for {mode} attention, got {value}").format(
                minimum=minimum, mode=_mode_name(bidirectional), value=num_buckets),
        )
    if max_distance <= max_exact:
        raise UsageError(
            _("--max-distance must be greater than {max_exact} (the number of exact buckets), got {value}").format(
                max_exact=max_exact, value=max_distance),
            hint=_("T5 uses --num-buckets 32 --max-distance 128"),
        )


def _mode_name(bidirectional: bool) -> str:
    return _("bidirectional") if bidirectional else _("causal")


@dataclass(frozen=True)
class BucketRange:
    """The relative positions (key minus query) that share one bucket.

    A bound of None is unlimited: every position beyond it belongs to the same bucket.
    """

    bucket: int
    min_relative: int | None
    max_relative: int | None
    min_distance: int  # |relative position| at the near end
    max_distance: int | None  # at the far end; None when unlimited
    exact: bool  # the bucket holds exactly one relative position


@dataclass(frozen=True)
class BucketTable:
    """Everything `ptm bucket` shows for one setting."""

    num_buckets: int
    max_distance: int
    bidirectional: bool
    max_exact: int  # distances below this have a bucket each
    last_bucket_distance: int  # the smallest distance that reaches the last bucket of its side
    ranges: list[BucketRange]
    unused_buckets: list[int]
    matrix: list[list[int]]  # matrix[query][key]
    relative: list[dict] = field(default_factory=list)  # requested positions: {"relative": r, "bucket": b}
    model: str | None = None

    def as_record(self) -> dict:
        return asdict(self)


def bucket_table(num_buckets: int = DEFAULT_NUM_BUCKETS, max_distance: int = DEFAULT_MAX_DISTANCE, *,
                 bidirectional: bool = True, size: int = 8, relative: list[int] | None = None,
                 model: str | None = None) -> BucketTable:
    """Build the bucket ranges, a size × size query-by-key matrix and the buckets of chosen positions."""
    validate(num_buckets, max_distance, bidirectional)
    options = {"bidirectional": bidirectional, "num_buckets": num_buckets, "max_distance": max_distance}
    half = num_buckets // 2 if bidirectional else num_buckets
    max_exact = half // 2

    ranges = _ranges_for_side(-1, options)
    if bidirectional:
        ranges += _ranges_for_side(+1, options)
    ranges.sort(key=lambda item: item.bucket)
    used = {item.bucket for item in ranges}

    last = relative_position_bucket(-max_distance, **options)
    last_distance = next(distance for distance in range(max_distance + 1)
                         if relative_position_bucket(-distance, **options) == last)
    matrix = [[relative_position_bucket(key - query, **options) for key in range(size)] for query in range(size)]
    return BucketTable(
        num_buckets=num_buckets,
        max_distance=max_distance,
        bidirectional=bidirectional,
        max_exact=max_exact,
        last_bucket_distance=last_distance,
        ranges=ranges,
        unused_buckets=[bucket for bucket in range(num_buckets) if bucket not in used],
        matrix=matrix,
        relative=[{"relative": value, "bucket": relative_position_bucket(value, **options)}
                  for value in relative or []],
        model=model,
    )


def _ranges_for_side(sign: int, options: dict) -> list[BucketRange]:
    """Group the distances 0..max_distance on one side of the query into runs of equal bucket.

    Buckets never decrease with distance, and every distance at or beyond max_distance shares the
    last bucket, so the last run is open-ended.
    """
    start = 0 if sign < 0 else 1  # distance 0 belongs to the "before" side, whose offset is 0
    runs: list[tuple[int, int, int]] = []
    for distance in range(start, options["max_distance"] + 1):
        bucket = relative_position_bucket(sign * distance, **options)
        if runs and runs[-1][0] == bucket:
            runs[-1] = (bucket, runs[-1][1], distance)
        else:
            runs.append((bucket, distance, distance))
    if sign > 0 and not options["bidirectional"]:
        return []

    ranges = []
    for index, (bucket, near, far) in enumerate(runs):
        open_ended = index == len(runs) - 1
        far_distance = None if open_ended else far
        if sign < 0:
            low, high = (None if open_ended else -far), -near
        else:
            low, high = near, (None if open_ended else far)
        ranges.append(BucketRange(bucket=bucket, min_relative=low, max_relative=high, min_distance=near,
                                  max_distance=far_distance, exact=not open_ended and near == far))
    if sign < 0 and not options["bidirectional"]:
        # Causal attention masks every key after the query, and the formula sends them to bucket 0.
        first = ranges[0]
        ranges[0] = BucketRange(bucket=first.bucket, min_relative=first.min_relative, max_relative=None,
                                min_distance=first.min_distance, max_distance=first.max_distance, exact=False)
    return ranges


@dataclass(frozen=True)
class BucketConfig:
    """The relative-attention settings read from a model's configuration."""

    num_buckets: int
    max_distance: int
    model_type: str | None


def read_bucket_config(reference: str, *, offline: bool = False, revision: str | None = None) -> BucketConfig:
    """Read relative_attention_num_buckets and relative_attention_max_distance from a model's config.

    A local folder's config.json is read as JSON; only a Hub id or a pack needs transformers' AutoConfig.
    """
    path = Path(reference).expanduser()
    if path.is_file() and path.name.endswith(".json"):
        return _from_mapping(reference, _read_json(path))
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise PtmError(_("'{path}' has no config.json").format(path=reference),
                           hint=_("pass a model folder or its config.json"))
        return _from_mapping(reference, _read_json(config_file))

    from ptmcli.engine import hub
    from ptmcli.engine.resolve import resolve

    source = resolve(reference, offline=offline, revision=revision)
    if source.kind == "hub":
        hub.hub_reachable()
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source.location, **source.load_options())
    except (OSError, ValueError) as error:
        raise PtmError(
            _("cannot read the configuration of '{reference}': {reason}").format(
                reference=reference, reason=str(error).strip().splitlines()[0] if str(error).strip() else error),
            hint=_("pass a local folder with config.json, or set --num-buckets and --max-distance"),
        ) from error
    return _from_mapping(reference, config.to_dict())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise PtmError(_("cannot read '{path}': {reason}").format(path=path, reason=error)) from error


def _from_mapping(reference: str, config: dict) -> BucketConfig:
    num_buckets = config.get("relative_attention_num_buckets")
    max_distance = config.get("relative_attention_max_distance")
    model_type = config.get("model_type")
    if num_buckets is None:
        raise PtmError(
            _("the configuration of '{reference}' (model type {model_type}) has no relative_attention_num_buckets, "
              "so it does not use T5 relative position buckets").format(reference=reference, model_type=model_type),
            hint=_("pass a T5-family model (t5, mt5, umt5, longt5) or set --num-buckets and --max-distance"),
        )
    # Configs written before max_distance became a setting used the value that was then hard-coded.
    return BucketConfig(int(num_buckets), int(max_distance or DEFAULT_MAX_DISTANCE), model_type)
