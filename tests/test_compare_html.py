"""``compare --html FILE``: one self-contained page with the runs side by side, in a real
headless Chromium: it loads without console errors and shows one column per run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from tests.helpers.headless_chromium import chromium

EXAMPLES = Path(__file__).resolve().parent.parent / "histories" / "examples"
COLUMNS = """JSON.stringify([...document.querySelectorAll('section.run')].map(e => {
  const r = e.getBoundingClientRect();
  return {label: e.dataset.label, left: r.left, top: r.top, width: r.width,
          height: r.height, svg: e.querySelector('svg') !== null};
}))"""


def run_dir(root: Path, name: str, example: str, mode: str) -> Path:
    path = root / "chat" / name
    path.mkdir(parents=True)
    shutil.copy(EXAMPLES / example, path / "history.jsonl")
    (path / "test.json").write_text(json.dumps({"mode": mode, "seed": 3}))
    return path


@pytest.fixture
def page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    cp = run_dir(tmp_path, "one<b>", "valid-basic.jsonl", "cp")
    ap = run_dir(tmp_path, "two", "fifo-violation.jsonl", "ap")
    out = tmp_path / "compare.html"
    assert main(["compare", str(cp), str(ap), "--html", str(out)]) == 0
    capsys.readouterr()
    return out


def test_the_page_is_self_contained_and_escaped(page: Path) -> None:
    text = page.read_text()
    assert "one&lt;b&gt;" in text and "one<b>" not in text
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org", "")
    assert text.count('<section class="run"') == 2 and text.count("<svg") == 2
    assert "reading" in text and "refused" in text and "indeterminate" in text


def test_chromium_loads_it_without_errors_and_shows_both_columns(
    page: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><p>x</p><script>console.error('seen')</script>")
    with chromium() as browser:
        control = browser.load(broken.as_uri(), "1")
        loaded = browser.load(page.as_uri(), COLUMNS)
    assert control.errors == ["console: seen"]  # the error capture works
    assert loaded.errors == []
    columns = json.loads(loaded.value)
    assert [c["label"].split()[0] for c in columns] == ["cp", "ap"]
    first, second = columns
    assert all(c["svg"] and c["width"] > 200 and c["height"] > 100 for c in columns)
    assert first["top"] == second["top"]
    assert second["left"] >= first["left"] + first["width"]
