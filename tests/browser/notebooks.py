"""Demo notebooks the browser tests and the benchmark open."""

from __future__ import annotations

import base64
import io
import json
import random
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


#: words of the prose and code (split on white space)
_VOCABULARY = """the data frame rows column threshold region sales quarter model prompt token cost window mean median
outlier filter join merge group sum count ratio trend season forecast error residual sample weight feature label
train test split score metric baseline report summary figure table value index"""
_WORDS = _VOCABULARY.split()


def _prose(rng: random.Random, words: int) -> str:
    out = " ".join(rng.choice(_WORDS) for _ in range(words))
    return out[0].upper() + out[1:] + "."


def _chart_png(rng: random.Random, width: int = 360, height: int = 240) -> str:
    """A line chart with noise, as a plotting library would draw it (tens of KB of PNG), base64."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    for x in range(0, width, 40):
        draw.line([(x, 0), (x, height)], fill=(230, 230, 230))
    for series, colour in enumerate(((31, 119, 180), (255, 127, 14), (44, 160, 44))):
        y = height / 2 + series * 20
        points = []
        for x in range(0, width, 3):
            y = min(height - 5, max(5, y + rng.gauss(0, 6)))
            points.append((x, y))
        draw.line(points, fill=colour, width=2)
    pixels = img.load()
    for _ in range(width * height // 6):  # anti-aliasing and jpeg-ish noise keep it from compressing to nothing
        x, y = rng.randrange(width), rng.randrange(height)
        r, g, b = pixels[x, y]
        d = rng.randint(-12, 12)
        pixels[x, y] = (max(0, min(255, r + d)), max(0, min(255, g + d)), max(0, min(255, b + d)))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def realistic_notebook(n_cells: int = 1000, seed: int = 25, image_every: int = 40) -> nbformat.NotebookNode:
    """A long working notebook as people keep them: prose between code cells, most code cells executed with
    text outputs (prints, tables, a traceback now and then) and a chart every ``image_every`` cells. About
    2 KB per cell: 1,000 cells are about 2 MB on disk. Deterministic for a given seed."""
    rng = random.Random(seed)
    cells = []
    count = 0
    for i in range(n_cells):
        if i % 3 == 0:
            cells.append(new_markdown_cell(f"## Step {i}: {_prose(rng, 6)}\n\n{_prose(rng, rng.randint(30, 90))}"))
            continue
        count += 1
        lines = [f"# step {i}: {_prose(rng, 5)}"]
        for j in range(rng.randint(3, 12)):
            column, value, agg = rng.choice(_WORDS), rng.randint(0, 999), rng.choice(_WORDS)
            lines.append(f"v{i}_{j} = df[df['{column}'] > {value}].{agg}.sum()")
        outputs = []
        if i % image_every == 1:
            outputs.append(new_output("display_data", data={"image/png": _chart_png(rng), "text/plain": "<Figure>"}))
        elif i % 29 == 7:
            outputs.append(
                new_output(
                    "error",
                    ename="KeyError",
                    evalue=f"'{rng.choice(_WORDS)}'",
                    traceback=[f"KeyError: '{rng.choice(_WORDS)}'"],
                )
            )
        else:
            text = "\n".join(f"{rng.choice(_WORDS)}_{k}: {rng.random() * 1000:.3f}" for k in range(rng.randint(5, 40)))
            outputs.append(new_output("stream", name="stdout", text=text + "\n"))
            if i % 4 == 2:
                rows = "\n".join(
                    f"{r:<4}" + "".join(f"{rng.random() * 100:>10.2f}" for _ in range(6))
                    for r in range(rng.randint(5, 20))
                )
                table = "    " + "".join(f"{rng.choice(_WORDS):>10}" for _ in range(6)) + "\n" + rows
                outputs.append(new_output("execute_result", data={"text/plain": table}, execution_count=count))
        cells.append(new_code_cell("\n".join(lines), execution_count=count, outputs=outputs))
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
