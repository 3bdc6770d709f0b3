"""Demo notebooks the browser tests and the benchmark open."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

DEMO = "demo.ipynb"
LARGE = "large.ipynb"

KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def demo_notebook() -> nbformat.NotebookNode:
    """Six cells of every type, one of them empty (it must get no badge), one with an output."""
    cells = [
        new_markdown_cell(
            "# Quarterly report assistant\n\n"
            "You are helping an analyst summarise **regional sales**. Answer in short bullet points, "
            "cite the table rows you use, and flag any figure that looks inconsistent."
        ),
        new_code_cell(
            "import statistics\n\nsales = {'north': [120, 135, 150], 'south': [90, 95, 80], 'west': [200, 210, 190]}\n"
            "means = {region: statistics.mean(v) for region, v in sales.items()}\nmeans",
            execution_count=1,
            outputs=[
                new_output(
                    "execute_result",
                    data={"text/plain": "{'north': 135, 'south': 88.33333333333333, 'west': 200}"},
                    execution_count=1,
                )
            ],
        ),
        new_code_cell(""),
        new_markdown_cell(
            "## Questions\n\n1. Which region grew fastest?\n2. Is the southern dip seasonal?\n"
            "3. Draft a two-sentence summary for the board."
        ),
        new_raw_cell("Raw notes: figures are in thousands of euros; Q3 west includes a one-off order."),
        new_code_cell(
            "def growth(values):\n    return (values[-1] - values[0]) / values[0]\n\n{r: growth(v) for r, v "
            "in sales.items()}"
        ),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    return nb


def large_notebook(n_cells: int = 100) -> nbformat.NotebookNode:
    """A long notebook (alternating prose and code, each cell distinct) for windowing and the benchmark."""
    cells = []
    for i in range(n_cells):
        if i % 3 == 0:
            cells.append(
                new_markdown_cell(
                    f"### Step {i}\n\nExplain what step {i} does to the data frame and why the "
                    f"threshold of {i * 7 % 101} was chosen."
                )
            )
        else:
            cells.append(
                new_code_cell(
                    f"# cell {i}\nvalues_{i} = [x * {i} for x in range({i % 17 + 3})]\n"
                    f"total_{i} = sum(values_{i})\nprint('step {i}', total_{i})"
                )
            )
    return new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})


def write_demo_notebooks(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    nbformat.write(demo_notebook(), str(root / DEMO))
    nbformat.write(large_notebook(), str(root / LARGE))


JOB = "job.ipynb"
JOB_FILE = "tickets.jsonl"


def write_job_notebook(root: Path, rows: list[dict], seed: int = 7) -> str:
    """A Message Batches file and a notebook whose cell estimates it with ``%count_tokens --job``."""
    with open(root / JOB_FILE, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    cells = [
        new_code_cell("%load_ext jupyter_token_count"),
        new_code_cell(f"%count_tokens --job {JOB_FILE} --seed {seed}"),
    ]
    nb = new_notebook(cells=cells, metadata={"kernelspec": KERNELSPEC, "language_info": {"name": "python"}})
    nbformat.write(nb, str(root / JOB))
    return JOB
