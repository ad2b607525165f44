"""The documentation runs: every ```python and ```bash block of README.md and docs/*.md.

Each page runs in a fresh temporary folder that holds ``data/`` as written by
``tabloader demo --write-data data`` (what a fresh install can make), its blocks in order
in one Python process, like a notebook: Python blocks share one namespace, shell blocks
run with ``bash -euo pipefail`` and the virtual environment's ``bin`` first on ``PATH``.
A block is skipped only when the line right above its fence is a
``<!-- not-run: reason -->`` comment. Also checked: the README stays a front page
(at most 250 lines) and the relative links of every page lead to files that exist.

The lecture labs in ``examples/`` run on ``../shared/data/lecture`` (skipped without it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BIN = Path(sys.executable).parent

_FENCE = re.compile(
    r"^(?P<skip><!--\s*not-run:(?P<why>[^>]*)-->[ \t]*\n)?"
    r"```(?P<lang>[\w-]*)[ \t]*\n(?P<code>.*?)^```[ \t]*$",
    re.M | re.S,
)

#: runs a page's blocks (a JSON list of {"lang", "code", "line"}) in the current folder
_RUNNER = r"""
import json, os, subprocess, sys, time
blocks = json.load(open(sys.argv[1]))
page = sys.argv[2]
ns = {"__name__": "__main__"}
for b in blocks:
    t0 = time.perf_counter()
    print(f"--- {page}:{b['line']} ({b['lang']})", flush=True)
    if b["lang"] == "python":
        exec(compile(b["code"], f"{page}:{b['line']}", "exec"), ns)
    else:
        subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]], check=True)
    seconds = time.perf_counter() - t0
    print(f"--- {page}:{b['line']} took {seconds:.1f} s", flush=True)
    sys.stdout.flush()
"""


def code_blocks(page: Path) -> list[dict]:
    """Every fenced block of ``page``: language, code, line, and the not-run reason."""
    text = page.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start("lang")) + 1
        why = m.group("why").strip() if m.group("skip") else None
        out.append({"lang": m.group("lang"), "code": m.group("code"), "line": line, "skip": why})
    return out


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("demo") / "data"
    subprocess.run(
        [str(BIN / "tabloader"), "demo", "--write-data", str(folder)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return folder


@pytest.mark.slow  # all pages: about 2.5 minutes on 2 busy cores (the CLI pages start ~20 processes)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_code_blocks_run(page, demo_data, tmp_path):
    blocks = [b for b in code_blocks(page) if b["lang"] in ("python", "bash") and b["skip"] is None]
    if not blocks:
        pytest.skip(f"{page.name} has no runnable block")
    shutil.copytree(demo_data, tmp_path / "data")
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "OMP_NUM_THREADS": "1",
        "MPLBACKEND": "Agg",
    }
    proc = subprocess.run(
        [sys.executable, "-c", _RUNNER, "blocks.json", page.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    took = [float(t) for t in re.findall(r"took ([\d.]+) s", proc.stdout)]
    assert len(took) == len(blocks)
    slow = [(b["line"], t) for b, t in zip(blocks, took) if t > 60]
    assert not slow, f"blocks of {page.name} slower than 60 s (line, seconds): {slow}"


def test_code_blocks_have_known_languages():
    """Only ```python and ```bash blocks run: a signature or an output is ```text (or has
    no language), never ```python."""
    for page in PAGES:
        for b in code_blocks(page):
            assert b["lang"] in ("python", "bash", "text", ""), (page.name, b["line"], b["lang"])


def test_readme_is_a_front_page_and_links_resolve():
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 250
    link = re.compile(r"\]\((?!https?://|#)([^)#\s]+)(?:#[^)]*)?\)")
    for page in PAGES:
        for target in link.findall(page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


# --------------------------------------------------------------------------- examples
EXAMPLES = {
    "lab04_multivariate_linear_regression.py": "data-01-test-score.csv",
    "lab04_minibatch_dataloader.py": "data-01-test-score.csv",
    "lab05_logistic_regression.py": "data-03-diabetes.csv",
    "lab06_softmax_classification.py": "data-04-zoo.csv",
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_lecture_examples(script, lecture_dir):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), str(lecture_dir / EXAMPLES[script])],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    pattern = r"(?:cost|loss)[:=]?\s*([\d.]+(?:e-?\d+)?)"
    losses = [float(v) for v in re.findall(pattern, proc.stdout, flags=re.I)]
    assert len(losses) >= 2, proc.stdout
    assert losses[-1] < losses[0], proc.stdout  # it learns
