"""Generate completions/ptm.bash, ptm.zsh and ptm.fish from the app.

    python tools/completions.py           rewrite the three scripts
    python tools/completions.py --check   exit 1 when a script differs from what the app generates

Each script is what the app prints for Typer's completion instruction `_PTM_COMPLETE=source_SHELL`
(the same template that `ptm --show-completion SHELL` prints), run in a subprocess with shell
detection out of the way. The scripts call back into `ptm` for every completion, so command,
option and model names come from the installed app at the time of completion.
"""

import argparse
import difflib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "completions"
SHELLS = ("bash", "zsh", "fish")


def completion_environment(shell: str) -> dict[str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("PTM_", "_PTM_"))}
    environment.update({
        "_PTM_COMPLETE": f"source_{shell}",
        "PTM_LANG": "en",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    })
    return environment


def render(shell: str) -> str:
    """Return the completion script that the app generates for this shell."""
    result = subprocess.run(
        [sys.executable, "-m", "ptmcli"], capture_output=True, text=True, encoding="utf-8",
        env=completion_environment(shell), cwd=ROOT, timeout=120,
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise SystemExit(f"generating the {shell} script failed with exit code {result.returncode}:\n{result.stderr}")
    return result.stdout.strip("\n") + "\n"


def script_path(shell: str) -> Path:
    return FOLDER / f"ptm.{shell}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift instead of rewriting the scripts")
    arguments = parser.parse_args()

    drifted = []
    for shell in SHELLS:
        text = render(shell)
        path = script_path(shell)
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        if arguments.check:
            if current != text:
                drifted.append(shell)
                sys.stdout.writelines(difflib.unified_diff(
                    current.splitlines(keepends=True), text.splitlines(keepends=True),
                    str(path.relative_to(ROOT)), "generated"))
            continue
        FOLDER.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    if drifted:
        print(f"out of date: {', '.join(drifted)}; run 'python tools/completions.py'", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
