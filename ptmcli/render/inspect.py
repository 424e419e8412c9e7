"""Terminal and plain-text views of `ptm inspect`: config, parameters, tokenizer and architecture tree."""

from rich.console import Group
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from ptmcli.i18n import _

POSITION_LABELS = {
    "absolute": _("absolute (learned)"),
    "relative_buckets": _("relative buckets"),
    "rotary": _("rotary (RoPE)"),
    "relative_key": _("relative key"),
    "relative_key_query": _("relative key and query"),
    "unknown": _("not stated"),
}


def short_count(count: int | None) -> str:
    """Format a parameter count in the usual short form: 109.5M, 22.7M, 1.2B."""
    if count is None:
        return ""
    for size, suffix in ((10**9, "B"), (10**6, "M"), (10**3, "K")):
        if count >= size:
            return f"{count / size:.1f}{suffix}"
    return str(count)


def full_count(count: int | None) -> str:
    if count is None:
        return ""
    return f"{count:,} ({short_count(count)})" if count >= 1000 else str(count)


def config_rows(record: dict) -> list[tuple[str, str]]:
    config = record["config"]
    layers = _value(config["layers"])
    if config["decoder_layers"] is not None:
        layers = _("{encoder} encoder + {decoder} decoder").format(encoder=layers, decoder=config["decoder_layers"])
    heads = _value(config["attention_heads"])
    if config["key_value_heads"] and config["key_value_heads"] != config["attention_heads"]:
        heads = _("{heads} ({kv} key/value heads)").format(heads=heads, kv=config["key_value_heads"])
    position = POSITION_LABELS.get(config["position_embedding"], config["position_embedding"])
    if config["position_embedding"] == "relative_buckets":
        position = _("relative buckets ({buckets}, max distance {distance})").format(
            buckets=config["relative_buckets"], distance=config["relative_max_distance"])
    elif config["position_embedding"] == "rotary" and config["rope_theta"] is not None:
        position = _("rotary (RoPE, theta {theta:g})").format(theta=config["rope_theta"])
    norm = " ".join(part for part in (config["normalization"], config["norm_kind"] and f"({config['norm_kind']})")
                    if part) or _("not stated")
    return [
        (_("model type"), config["model_type"]),
        (_("architecture"), ", ".join(config["architectures"]) or _("not stated")),
        (_("layers"), layers),
        (_("hidden size"), _value(config["hidden_size"])),
        (_("attention heads"), heads),
        (_("feed-forward size"), _value(config["intermediate_size"])),
        (_("vocabulary"), _value(config["vocab_size"])),
        (_("maximum positions"), _value(config["max_positions"]) if config["max_positions"] is not None
         else _("none (relative)") if config["position_embedding"] == "relative_buckets" else _("not stated")),
        (_("position embedding"), position),
        (_("normalization"), norm),
        (_("activation"), _value(config["activation"])),
        (_("tied input/output embeddings"), _value(config["tie_word_embeddings"])),
        (_("stored dtype"), _value(config["dtype"])),
    ]


def parameter_rows(record: dict) -> list[tuple[str, str]]:
    if record["total_parameters"] is None:
        return []
    rows = []
    for module in record["modules"]:
        value = full_count(module["parameters"])
        if module["shared"]:
            value = _("{count} + {shared} tied to {modules}").format(
                count=value, shared=short_count(module["shared"]), modules=", ".join(module["shared_with"]))
        rows.append((f"{module['name']} ({module['type']})", value))
    rows.append((_("total"), full_count(record["total_parameters"])))
    if record["checkpoint_values"] is not None and record["checkpoint_values"] != record["total_parameters"]:
        rows.append((_("stored in the checkpoint"), full_count(record["checkpoint_values"])))
    return rows


def tokenizer_rows(record: dict) -> list[tuple[str, str]]:
    tokenizer = record["tokenizer"]
    if tokenizer is None:
        return []
    rows = [
        (_("tokenizer"), f"{tokenizer['kind']} ({tokenizer['class_name']})"),
        (_("tokenizer vocabulary"), str(tokenizer["vocab_size"])),
        (_("tokenizer maximum length"), _value(tokenizer["model_max_length"])),
    ]
    for role, special in tokenizer["special_tokens"].items():
        token = special["token"] if special["id"] is None else f"{special['token']} = {special['id']}"
        rows.append((_("{role} token").format(role=role), token))
    return rows


def _value(value) -> str:
    if value is None:
        return _("not stated")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def facts_table(records: list[dict], rows_of, title: str) -> Table | None:
    """One row per fact and one column per model, so two models read side by side."""
    all_rows = [rows_of(record) for record in records]
    if not any(all_rows):
        return None
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False)
    table.add_column("")
    for record in records:
        table.add_column(record["model"], overflow="fold")
    labels = []
    for rows in all_rows:
        for label, _text in rows:
            if label not in labels:
                labels.append(label)
    for label in labels:
        cells = [dict(rows).get(label, "") for rows in all_rows]
        table.add_row(Text(label, style="bold"), *cells)
    return table


def tree_label(node: dict) -> str:
    name = f"({node['name']}): " if node["name"] else ""
    count = f"{node['repeat']} × " if node["repeat"] > 1 else ""
    extra = f"({node['extra']})" if node["extra"] else ""
    parameters = f"  {short_count(node['parameters'])}" if node["parameters"] else ""
    if parameters and node["repeat"] > 1:
        parameters = "  " + _("{count} each").format(count=short_count(node["parameters"]))
    return f"{name}{count}{node['type']}{extra}{parameters}"


def architecture_tree(node: dict, depth: int | None, title: str) -> Tree:
    tree = Tree(Text(title, style="bold"))
    _add_nodes(tree.add(Text(tree_label(node))), node, depth, 1)
    return tree


def _add_nodes(branch: Tree, node: dict, depth: int | None, level: int) -> None:
    if depth is not None and level > depth:
        return
    for child in node.get("children", []):
        _add_nodes(branch.add(Text(tree_label(child))), child, depth, level + 1)


def tree_lines(node: dict, depth: int | None, indent: int = 0) -> list[str]:
    """Write the tree the way print(model) does, with repeated layers folded and counts added."""
    pad = "  " * indent
    children = node.get("children", []) if depth is None or indent < depth else []
    if not children:
        return [pad + tree_label(node)]
    lines = [pad + tree_label(node) + " ("]
    for child in children:
        lines += tree_lines(child, depth, indent + 1)
    lines.append(pad + ")")
    return lines


def inspect_view(records: list[dict], depth: int | None) -> Group:
    parts = []
    for rows_of, title in ((config_rows, _("Config")), (parameter_rows, _("Parameters")),
                           (tokenizer_rows, _("Tokenizer"))):
        table = facts_table(records, rows_of, title)
        if table is not None:
            parts += [table, Text("")]
    for record in records:
        if record["tree"] is not None:
            title = _("Architecture of {model} ({model_class})").format(model=record["model"],
                                                                      model_class=record["model_class"])
            parts += [architecture_tree(record["tree"], depth, title), Text("")]
    return Group(*parts[:-1] if parts else parts)


def plain_lines(records: list[dict], depth: int | None) -> list[str]:
    """Write `label: value` lines and the tree, for a bug report or a diff between two models."""
    lines = []
    for record in records:
        if len(records) > 1:
            lines.append(f"# {record['model']}")
        for rows_of in (config_rows, parameter_rows, tokenizer_rows):
            lines += [f"{label}: {value}" for label, value in rows_of(record)]
        if record["tree"] is not None:
            lines += tree_lines(record["tree"], depth)
    return lines
