"""Pooling and layer mixing on encoder outputs, with padding masked out.

Every function takes the attention mask of a padded batch, so that the padding of a longer
neighbour never changes a text's vector: a text embedded alone and in a batch gets the same result.
"""

POOLINGS = ("cls", "pooler", "mean", "max")
LAYER_MIXES = ("concat", "sum", "mean")


def mix_layers(hidden_states, layers: list[int], mix: str):
    """Combine the chosen hidden layers [batch, seq, hidden] into one tensor of token features."""
    import torch

    chosen = [hidden_states[index] for index in layers]
    if len(chosen) == 1:
        return chosen[0]
    if mix == "concat":
        return torch.cat(chosen, dim=-1)
    stacked = torch.stack(chosen, dim=0)
    if mix == "sum":
        return stacked.sum(dim=0)
    if mix == "mean":
        return stacked.mean(dim=0)
    raise ValueError(f"unknown layer mix {mix!r}")


def masked_mean(features, attention_mask):
    """Average the token features of real tokens only; [batch, seq, dim] -> [batch, dim]."""
    mask = attention_mask.unsqueeze(-1).to(features.dtype)
    summed = (features * mask).sum(dim=1)
    # A row of only padding cannot occur for real input, but the clamp keeps the division finite.
    counts = mask.sum(dim=1).clamp(min=1e-9)
    return summed / counts


def masked_max(features, attention_mask):
    """Take each dimension's maximum over real tokens only; [batch, seq, dim] -> [batch, dim]."""
    import torch

    mask = attention_mask.unsqueeze(-1).bool()
    lowest = torch.finfo(features.dtype).min
    return features.masked_fill(~mask, lowest).max(dim=1).values


def first_token(features):
    """Return the features of the first token, which is [CLS] for BERT-style tokenizers."""
    return features[:, 0]


def pool(features, attention_mask, pooling: str, pooler_output=None):
    """Reduce token features [batch, seq, dim] to one vector per text with the named pooling."""
    if pooling == "cls":
        return first_token(features)
    if pooling == "mean":
        return masked_mean(features, attention_mask)
    if pooling == "max":
        return masked_max(features, attention_mask)
    if pooling == "pooler":
        if pooler_output is None:
            raise ValueError("this model returns no pooler_output")
        return pooler_output
    raise ValueError(f"unknown pooling {pooling!r}")


def l2_normalize(vectors):
    import torch

    return torch.nn.functional.normalize(vectors, p=2, dim=-1)


def cosine_matrix(vectors):
    """Cosine similarity of every pair of rows; [n, dim] -> [n, n]."""
    normalized = l2_normalize(vectors.float())
    return normalized @ normalized.T
