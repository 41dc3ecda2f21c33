"""Mutants per file after ``mutmut run``: total, killed, survived, timeout, other; then the survivors.

mutmut 3 records each mutant's exit code in ``mutants/<source>.py.meta``; its own ``results`` command
lists survivors but counts nothing per file. Run from the project root after ``mutmut run``.
"""

from __future__ import annotations

import json
import pathlib
import sys
from collections import Counter

# mutmut 3.8's meaning of a mutant run's exit code (mutmut/stats.py); anything else is "other".
_STATUS = {
    0: "survived",
    1: "killed",
    3: "killed",
    36: "timeout",
    24: "timeout",
    -24: "timeout",
    152: "timeout",
}
_COLUMNS = ("killed", "survived", "timeout", "other")


def main(root: pathlib.Path) -> int:
    """Print the table and the survivors; return 1 when nothing was recorded."""
    metas = sorted(root.glob("**/*.py.meta"))
    if not metas:
        print(f"no mutmut results under {root}/", file=sys.stderr)
        return 1
    survivors: list[str] = []
    print(f"{'file':<60} {'total':>6} " + " ".join(f"{c:>8}" for c in _COLUMNS))
    for meta in metas:
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        counts = Counter(
            _STATUS.get(code, "other") if code is not None else "other" for code in codes.values()
        )
        survivors.extend(name for name, code in sorted(codes.items()) if code == 0)
        name = str(meta.relative_to(root)).removesuffix(".meta")
        total = sum(counts.values())
        print(f"{name:<60} {total:>6} " + " ".join(f"{counts[c]:>8}" for c in _COLUMNS))
    print("\nsurvivors (see each with `mutmut show NAME`):")
    for name in survivors:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path("mutants")))
