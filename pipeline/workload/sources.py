"""SOURCE strings: where a network comes from, resolved to a layer table.

Four kinds are understood:

- ``path/to/model.onnx``: an ONNX file;
- ``path/to/model.py:build``: a Python file and a function in it returning a ``torch.nn.Module``;
- ``zoo:NAME``: a network of our own zoo (:mod:`confx.pipeline.workload.zoo`);
- ``torchvision:NAME``: a torchvision model, where torchvision imports (it does not next to our
  torch build, which is why the zoo exists).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import torch

from confx.costmodel.errors import ConfXError
from confx.pipeline.workload.from_onnx import import_onnx
from confx.pipeline.workload.from_torch import import_module
from confx.pipeline.workload.input_shape import DEFAULT_INPUT_SHAPE
from confx.pipeline.workload.network import ImportedNetwork
from confx.pipeline.workload.zoo import build_zoo_model, zoo_model

_FORMS = "give a .onnx file, path/to/model.py:FUNCTION, zoo:NAME or torchvision:NAME"


class SourceKind(Enum):
    ONNX = "onnx"
    MODEL_FILE = "model file"
    ZOO = "zoo"
    TORCHVISION = "torchvision"


@dataclass(frozen=True)
class Source:
    """A parsed source string: its kind, the file (ONNX or Python) and the name (function or model)."""

    text: str
    kind: SourceKind
    path: Path | None = None
    name: str = ""


def parse_source(text: str) -> Source:
    """Tell which kind of source a string names; files are checked to exist.

    Raises:
        ConfXError: A missing file, a Python file without a function name, or an unknown form.
    """
    for prefix, kind in (("zoo:", SourceKind.ZOO), ("torchvision:", SourceKind.TORCHVISION)):
        if text.startswith(prefix):
            return Source(text, kind, name=text.removeprefix(prefix))
    file_part, _, function = text.rpartition(":") if ":" in text else (text, "", "")
    path = Path(file_part)
    if path.suffix.lower() == ".onnx" and not function:
        kind = SourceKind.ONNX
    elif path.suffix.lower() == ".py" and function.isidentifier():
        kind = SourceKind.MODEL_FILE
    elif path.suffix.lower() == ".py":
        raise ConfXError(f"{text}: name the function that builds the model, e.g. {file_part}:build")
    else:
        hint = "this file is not a model" if Path(text).exists() else "unknown source"
        raise ConfXError(f"{text}: {hint}; {_FORMS}")
    if not path.is_file():
        raise ConfXError(f"{text}: file {path} not found")
    return Source(text, kind, path, function)


def import_network(source: str, *, input_shape: Sequence[int] | None = None) -> ImportedNetwork:
    """Import a network from a source string as a layer table.

    Args:
        source: See the module docstring for the four forms.
        input_shape: Shape of the input, batch 1. By default the zoo model's own size, the ONNX file's
            static size, or ``(1, 3, 224, 224)``.

    Raises:
        ConfXError: The source cannot be found or loaded, is not a model, or has a layer MAESTRO cannot
            express; the message names the file or layer at fault.
    """
    parsed = parse_source(source)
    if parsed.kind is SourceKind.ONNX:
        assert parsed.path is not None
        return import_onnx(parsed.path, input_shape=input_shape, source=source)
    module, default_shape = load_torch_model(parsed)
    return import_module(module, input_shape=input_shape or default_shape, source=source)


def load_torch_model(source: Source) -> tuple[torch.nn.Module, tuple[int, ...]]:
    """Build the module a torch source names, with the input shape it expects by default.

    Raises:
        ConfXError: See :func:`import_network`.
    """
    if source.kind is SourceKind.ZOO:
        return build_zoo_model(source.name), zoo_model(source.name).input_shape
    if source.kind is SourceKind.TORCHVISION:
        return _torchvision_model(source), DEFAULT_INPUT_SHAPE
    assert source.kind is SourceKind.MODEL_FILE and source.path is not None
    return _call_builder(source, _import_file(source)), DEFAULT_INPUT_SHAPE


def _import_file(source: Source) -> object:
    """Import a Python file by path, its folder first on ``sys.path`` so that its own imports work."""
    assert source.path is not None
    folder = str(source.path.resolve().parent)
    spec = importlib.util.spec_from_file_location(f"confx_model_{abs(hash(folder))}_{source.path.stem}", source.path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # the user's file: whatever it raises is a problem with the input
        raise ConfXError(f"{source.path}: cannot import it ({type(error).__name__}: {error}); fix the file") from error
    finally:
        sys.path.remove(folder)
    return module


def _call_builder(source: Source, module: object) -> torch.nn.Module:
    builder = getattr(module, source.name, None)
    if not callable(builder):
        functions = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise ConfXError(
            f"{source.path}: no function {source.name!r}; define {source.name}() returning a torch.nn.Module "
            f"(the file has: {', '.join(functions) or 'no functions'})"
        )
    try:
        network = builder()
    except Exception as error:  # the user's function: whatever it raises is a problem with the input
        raise ConfXError(f"{source.text}: {source.name}() failed ({type(error).__name__}: {error})") from error
    if not isinstance(network, torch.nn.Module):
        raise ConfXError(
            f"{source.text}: {source.name}() returned type {type(network).__name__}, not a torch.nn.Module; "
            "return the model"
        )
    return network


def _torchvision_model(source: Source) -> torch.nn.Module:
    try:
        import torchvision  # type: ignore[import-not-found]  # optional: only this form needs it
    except Exception as error:  # a torchvision built for another torch fails with RuntimeError, not ImportError
        raise ConfXError(
            f"{source.text}: torchvision is not importable here ({type(error).__name__}); "
            f"use a model file (path/to/model.py:build) or zoo:{source.name}"
        ) from error
    try:
        with torch.device("meta"):
            return torchvision.models.get_model(source.name, weights=None)
    except ValueError as error:
        raise ConfXError(f"{source.text}: torchvision has no model {source.name!r}") from error
