"""The Typer layer: parse, validate, call the engine, render. No torch at import time."""
