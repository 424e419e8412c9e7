"""The work behind each command: plain functions over torch and transformers, usable from a notebook.

Nothing here imports Typer or Rich, and nothing prints: notices go to the `ptmcli` logger.
"""
