"""The wheel carries the assets (templates, recipes, configs) and the console command."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    (whl,) = out.glob("critic-*.whl")
    return whl


def test_wheel_ships_every_template_and_asset(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = sorted(p.name for p in (ROOT / "prompt_templates").glob("*.jinja"))
    assert templates, "no templates in the checkout"
    for t in templates:
        assert f"critic/prompt_templates/{t}" in names
    for folder, pkg in [("data_recipes", "data_recipes"), ("train", "train_configs"), ("eval", "eval_configs")]:
        for f in (ROOT / folder).glob("*.yaml"):
            assert f"critic/{pkg}/{f.name}" in names
    meta = next(n for n in names if n.endswith("entry_points.txt"))
    assert "critic = critic.commands.main:main" in zipfile.ZipFile(wheel).read(meta).decode()


def test_console_command_help():
    exe = Path(sys.executable).parent / "critic"
    res = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True)
    for cmd in ("templates", "toy"):
        assert cmd in res.stdout


def test_every_package_is_listed_in_pyproject():
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "critic").rglob("__init__.py")}
    assert tree <= listed, f"packages missing from pyproject.toml [tool.setuptools] packages: {sorted(tree - listed)}"


def test_wheel_ships_every_data_file_of_the_package(wheel):
    """Data files next to the code (oracle table, prompt-field labels, model-card template, ...)."""
    names = set(zipfile.ZipFile(wheel).namelist())
    data = [p for p in (ROOT / "critic").rglob("*") if p.is_file() and p.suffix not in {".py", ".pyc"}
            and "__pycache__" not in p.parts]
    assert data
    missing = [str(p.relative_to(ROOT)) for p in data if str(p.relative_to(ROOT)) not in names]
    assert not missing, f"not in the wheel: {missing}"
    for f in (ROOT / "train" / "accelerate").glob("*.yaml"):
        assert f"critic/train_configs/accelerate/{f.name}" in names
