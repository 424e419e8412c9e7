"""ptm: see and use pretrained BERT, GPT and T5 models from the command line."""

__version__ = "0.1.0"
