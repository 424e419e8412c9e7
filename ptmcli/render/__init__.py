"""Rich renderables for the terminal views; only cli/output.py prints them."""
