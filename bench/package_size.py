"""Package size: what `sam build` produced for the function and its layer, and the layer with boto3.

The template's layer does not bundle boto3 (layers/requirements.txt): the python3.13 runtime ships
one. The "with boto3" figure is that layer plus boto3 and the dependencies it adds (the versions the
tests pin), installed into a copy, to show what bundling would cost.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from bench.spawn import BUILD

# What boto3 brings on top of the layer (jmespath and urllib3 are in it already).
BOTO3_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "python-dateutil", "six")


def measure() -> dict[str, dict[str, int] | str]:
    """Bytes on disk (unzipped) and zipped, per artifact; an error message instead if one failed."""
    function, layer = BUILD / "ExportBackupFunction", BUILD / "DependenciesLayer"
    if not layer.is_dir():
        return {"error": f"{layer} is missing: run `sam build` (make bench does)"}
    sizes: dict[str, dict[str, int] | str] = {"function": _sizes(function), "layer": _sizes(layer)}
    with tempfile.TemporaryDirectory(prefix="bench-layer-") as folder:
        copy = Path(folder) / "layer"
        shutil.copytree(layer, copy)
        try:
            _add_boto3(copy / "python")
        except subprocess.CalledProcessError as error:
            sizes["layer_with_boto3"] = f"pip failed: {error.stderr.strip()[-300:]}"
        else:
            sizes["layer_with_boto3"] = _sizes(copy)
    return sizes


def _add_boto3(target: Path) -> None:
    pins = [f"{name}=={metadata.version(name)}" for name in BOTO3_DISTRIBUTIONS]
    subprocess.run(  # noqa: S603 - pip of this interpreter, pinned distributions
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--no-compile", "--target", str(target), *pins],
        check=True, capture_output=True, text=True,
    )  # fmt: skip


def _sizes(folder: Path) -> dict[str, int]:
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()]
    with tempfile.TemporaryDirectory(prefix="bench-zip-") as scratch:
        archive = Path(scratch) / "artifact.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, path.relative_to(folder))
        return {
            "unzipped": sum(path.stat().st_size for path in files),
            "zipped": archive.stat().st_size,
            "files": len(files),
        }
