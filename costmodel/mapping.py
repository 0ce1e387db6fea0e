"""MAESTRO's dataflow language: mapping files and bare ``Dataflow { ... }`` blocks.

Why this exists. Architects describe a dataflow in MAESTRO's directive language
(``SpatialMap``/``TemporalMap(size, offset) dim``, ``Cluster(size, P)`` levels,
``Sz(dim)`` and named ``Constant`` values) and expect the same file to mean the
same thing here. This module turns that text into plain frozen dataclasses and
rejects what MAESTRO 4eb08d1's parser (``DFSL_parser.hpp``) rejects, with one
line naming the file, line and directive instead of MAESTRO's bare
"Parse error at line number".

Sizes stay symbolic (:class:`Extent`): ``Sz(R)`` is resolved per layer and a
constant that the file does not define (ConfuciuX's ``KTileSz``/``ClusterSz``)
per design point, so one parsed mapping serves a whole batch of layers and knobs.
Rules that depend on the layer (a ``TemporalMap`` on R or S must cover the whole
filter, a cluster no larger than the PE count) are checked by :func:`check_layer`
and, per design point, by the evaluator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from confx.costmodel.errors import MappingError

MAPPING_DIR = Path(__file__).with_name("mappings")
"""The built-in mapping library: MAESTRO's own styles and ConfuciuX's four templates."""

LAYER_TYPES = ("CONV", "DSCONV")
"""Layer types the evaluator supports (MAESTRO also parses GEMM, NGCONV and TRCONV)."""

LAYER_DIMS = ("K", "C", "R", "S", "Y", "X")
"""Dimensions a CONV or DSCONV layer declares; ``Sz`` may name only these."""

MAP_DIMS = LAYER_DIMS + ("Y'", "X'")
"""Dimensions a map may name: the layer's, plus the output rows and columns."""

SPATIAL, TEMPORAL = "SpatialMap", "TemporalMap"

_EXTENT = r"(?:\d+|Sz\s*\(\s*[A-Za-z]+'?\s*\)|[A-Za-z_]\w*)"
_MAP = re.compile(rf"^(SpatialMap|TemporalMap)\s*\(\s*({_EXTENT})\s*,\s*({_EXTENT})\s*\)\s*([A-Za-z]+'?)$")
_CLUSTER = re.compile(rf"^Cluster\s*\(\s*({_EXTENT})\s*,\s*([A-Za-z]+)\s*\)$")
_CONSTANT = re.compile(r"^Constant\s+([A-Za-z_]\w*)\s+(-?\d+)$")
_SZ = re.compile(r"^Sz\s*\(\s*([A-Za-z]+'?)\s*\)$")


@dataclass(frozen=True)
class Extent:
    """A map size, offset or cluster size: a literal, ``Sz(dim)`` or a named knob.

    Attributes:
        value: The literal (0 when symbolic).
        dim: The dimension of ``Sz(dim)``, else "".
        knob: A constant the mapping leaves to the design point (``KTileSz``), else "".
    """

    value: int = 0
    dim: str = ""
    knob: str = ""

    def __str__(self) -> str:
        if self.dim:
            return f"Sz({self.dim})"
        return self.knob or str(self.value)


@dataclass(frozen=True)
class Map:
    """One ``SpatialMap``/``TemporalMap(size, offset) dim`` directive."""

    spatial: bool
    size: Extent
    offset: Extent
    dim: str
    line: int

    def __str__(self) -> str:
        return f"{SPATIAL if self.spatial else TEMPORAL}({self.size},{self.offset}) {self.dim}"


@dataclass(frozen=True)
class Cluster:
    """A ``Cluster(size, P|L)`` line: the directives after it run inside clusters of ``size``."""

    size: Extent
    physical: bool
    line: int

    def __str__(self) -> str:
        return f"Cluster({self.size},{'P' if self.physical else 'L'})"


Directive = Map | Cluster


@dataclass(frozen=True)
class Dataflow:
    """A parsed ``Dataflow { ... }`` block.

    Attributes:
        directives: The maps and cluster lines in file order.
        source: The file (or ``<string>``) it came from, for error messages.
        line: The line of its ``Dataflow`` keyword (1 for a bare block without one).
    """

    directives: tuple[Directive, ...]
    source: str
    line: int

    @property
    def levels(self) -> tuple[tuple[Map, ...], ...]:
        """The maps of each cluster level, outermost first."""
        levels: list[list[Map]] = [[]]
        for d in self.directives:
            if isinstance(d, Cluster):
                levels.append([])
            else:
                levels[-1].append(d)
        return tuple(tuple(level) for level in levels)

    @property
    def clusters(self) -> tuple[Cluster, ...]:
        return tuple(d for d in self.directives if isinstance(d, Cluster))

    @property
    def knobs(self) -> frozenset[str]:
        """Constants the block uses but does not define: supplied per design point."""
        names: set[str] = set()
        for d in self.directives:
            extents = (d.size, d.offset) if isinstance(d, Map) else (d.size,)
            names.update(e.knob for e in extents if e.knob)
        return frozenset(names)


@dataclass(frozen=True)
class MappedLayer:
    """One ``Layer`` of a mapping file: its type, stride, dimensions and dataflow."""

    name: str
    layer_type: str
    dims: dict[str, int]
    stride: dict[str, int]
    dataflow: Dataflow
    line: int


@dataclass(frozen=True)
class Mapping:
    """A whole mapping file (``Constant`` lines and a ``Network`` of layers) or a bare block."""

    source: str
    constants: dict[str, int] = field(default_factory=dict)
    layers: tuple[MappedLayer, ...] = ()
    dataflow: Dataflow | None = None

    @property
    def first_dataflow(self) -> Dataflow:
        """The block of a bare mapping, else the first layer's."""
        if self.dataflow is not None:
            return self.dataflow
        return self.layers[0].dataflow


# --- tokens: statements split on braces and semicolons, with their line -----------------------


def _statements(text: str) -> list[tuple[str, int]]:
    """Split text into ``{``, ``}`` and statements between them, dropping ``//`` comments."""
    out: list[tuple[str, int]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("//", 1)[0]
        for piece in re.split(r"([{};])", line):
            piece = piece.strip()
            if piece and piece != ";":
                out.append((piece, number))
    return out


def _error(source: str, line: int, directive: str, problem: str) -> MappingError:
    return MappingError(f"{source}:{line}: {directive!r}: {problem}")


def _extent(text: str, *, constants: dict[str, int], source: str, line: int, directive: str) -> Extent:
    text = text.strip()
    if text.isdigit():
        return Extent(value=int(text))
    sz = _SZ.match(text)
    if sz:
        dim = sz.group(1)
        if dim not in LAYER_DIMS:
            raise _error(
                source, line, directive, f"Sz({dim}) names no layer dimension (one of {', '.join(LAYER_DIMS)})"
            )
        return Extent(dim=dim)
    if text in constants:
        return Extent(value=constants[text])
    return Extent(knob=text)


def _directive(text: str, line: int, *, constants: dict[str, int], source: str) -> Directive:
    """Parse one directive statement, applying MAESTRO's layer-independent rules."""
    m = _MAP.match(text)
    if m:
        kind, size_text, offset_text, dim = m.groups()
        size = _extent(size_text, constants=constants, source=source, line=line, directive=text)
        offset = _extent(offset_text, constants=constants, source=source, line=line, directive=text)
        if dim not in MAP_DIMS:
            raise _error(source, line, text, f"{dim} is not a dimension of a CONV/DSCONV layer ({', '.join(MAP_DIMS)})")
        for what, e in (("size", size), ("offset", offset)):
            if not (e.dim or e.knob) and e.value <= 0:
                raise _error(source, line, text, f"the tile {what} must be a positive integer")
        d = Map(kind == SPATIAL, size, offset, dim, line)
        literal = not (size.dim or size.knob or offset.dim or offset.knob)
        if not d.spatial and dim in ("R", "S") and literal and size.value != offset.value:
            raise _error(
                source,
                line,
                text,
                f"tile size of {dim} ({size}) must equal its tile offset ({offset}), as MAESTRO requires",
            )
        return d
    c = _CLUSTER.match(text)
    if c:
        size = _extent(c.group(1), constants=constants, source=source, line=line, directive=text)
        if c.group(2) not in ("P", "L"):
            raise _error(source, line, text, "the cluster type must be P (physical) or L (logical)")
        if not (size.dim or size.knob) and size.value <= 0:
            raise _error(source, line, text, "the cluster size must be a positive integer")
        return Cluster(size, c.group(2) == "P", line)
    word = re.match(r"[A-Za-z_]\w*", text)
    name = word.group(0) if word else text
    if name in (SPATIAL, TEMPORAL, "Cluster"):
        raise _error(
            source, line, text, f"malformed {name}; write {name}(size, offset) dim, sizes as integers or Sz(dim)"
        )
    raise _error(source, line, text, "unknown directive; expected SpatialMap, TemporalMap or Cluster")


def _dataflow_block(
    tokens: list[tuple[str, int]], start: int, *, constants: dict[str, int], source: str, line: int
) -> tuple[Dataflow, int]:
    """Parse directives from ``tokens[start]`` up to the closing brace; return the block and the next index."""
    directives: list[Directive] = []
    i = start
    while i < len(tokens):
        text, number = tokens[i]
        if text == "}":
            return Dataflow(tuple(directives), source, line), i + 1
        if text == "{":
            raise _error(source, number, text, "unexpected '{' inside a Dataflow block")
        directives.append(_directive(text, number, constants=constants, source=source))
        i += 1
    raise _error(source, line, "Dataflow", "the Dataflow block has no closing '}'")


def _pairs(text: str, line: int, *, source: str, what: str) -> list[tuple[str, str]]:
    pairs = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = item.partition(":")
        if not sep or not name.strip() or not value.strip():
            raise _error(source, line, item, f"expected 'name: value' in the {what} line")
        pairs.append((name.strip(), value.strip()))
    return pairs


def _body(tokens: list[tuple[str, int]], i: int, *, source: str, keyword: str, line: int) -> tuple[str, int, int]:
    """The text of a one-statement ``{ ... }`` body (Stride, Dimensions); returns it, its line, next index."""
    if i >= len(tokens) or tokens[i][0] != "{":
        raise _error(source, line, keyword, f"expected '{{' after {keyword}")
    parts, j = [], i + 1
    while j < len(tokens) and tokens[j][0] != "}":
        parts.append(tokens[j][0])
        j += 1
    if j >= len(tokens):
        raise _error(source, line, keyword, f"the {keyword} block has no closing '}}'")
    return ", ".join(parts), line, j + 1


def _layer(
    tokens: list[tuple[str, int]], i: int, *, name: str, line: int, constants: dict[str, int], source: str
) -> tuple[MappedLayer, int]:
    """Parse a ``Layer name { ... }`` body starting after its '{'."""
    layer_type = ""
    dims: dict[str, int] = {}
    stride: dict[str, int] = {}
    dataflow: Dataflow | None = None
    while i < len(tokens):
        text, number = tokens[i]
        if text == "}":
            if not layer_type:
                raise _error(source, line, f"Layer {name}", "the layer has no 'Type:' line")
            if dataflow is None:
                raise _error(source, line, f"Layer {name}", "the layer has no Dataflow block")
            _check_sz(dataflow, dims, source=source)
            if dataflow.knobs <= set(constants):
                check_layer(dataflow, dims, knobs=constants)
            return MappedLayer(name, layer_type, dims, stride, dataflow, line), i + 1
        keyword = text.split(":")[0].strip()
        if keyword == "Type":
            layer_type = text.partition(":")[2].strip()
            if layer_type not in LAYER_TYPES:
                raise _error(source, number, text, f"unsupported layer type; expected one of {', '.join(LAYER_TYPES)}")
            i += 1
        elif keyword in ("Stride", "Dimensions"):
            body, _, i = _body(tokens, i + 1, source=source, keyword=keyword, line=number)
            for key, value in _pairs(body, number, source=source, what=keyword):
                size = constants.get(value, int(value) if value.lstrip("-").isdigit() else 0)
                if keyword == "Stride":
                    if dims:
                        raise _error(source, number, text, "the Stride line must come before Dimensions")
                    if size < 1 or key not in ("X", "Y"):
                        raise _error(source, number, f"{key}: {value}", "a stride is X or Y with a positive integer")
                    stride[key] = size
                else:
                    if size < 1:
                        raise _error(source, number, f"{key}: {value}", "a dimension size must be a positive integer")
                    dims[key] = size
        elif keyword == "Dataflow":
            if i + 1 >= len(tokens) or tokens[i + 1][0] != "{":
                raise _error(source, number, text, "expected '{' after Dataflow")
            dataflow, i = _dataflow_block(tokens, i + 2, constants=constants, source=source, line=number)
        else:
            raise _error(
                source, number, text, "unexpected line in a Layer; expected Type, Stride, Dimensions or Dataflow"
            )
    raise _error(source, line, f"Layer {name}", "the layer has no closing '}'")


def _check_sz(dataflow: Dataflow, dims: dict[str, int], *, source: str) -> None:
    """MAESTRO resolves ``Sz(dim)`` against the layer's Dimensions: a missing one is an error."""
    for d in dataflow.directives:
        extents = (d.size, d.offset) if isinstance(d, Map) else (d.size,)
        for e in extents:
            if e.dim and e.dim not in dims:
                raise _error(source, d.line, str(d), f"Sz({e.dim}) but the layer's Dimensions have no {e.dim}")


def parse_mapping(text: str, *, source: str = "<string>") -> Mapping:
    """Parse a MAESTRO mapping file, or a bare ``Dataflow { ... }`` block (or bare directives).

    Args:
        text: The file's text.
        source: The name error messages give the text (its path).

    Returns:
        The constants and layers of a whole file, or the block of a bare one.

    Raises:
        MappingError: One line ``source:line: 'directive': problem`` for the first problem:
            an unknown directive or dimension, a ``Sz`` of a dimension the layer does not
            declare, a non-positive size, offset, stride or dimension, a ``TemporalMap`` on
            R or S whose size differs from its offset, a Stride after Dimensions, a layer
            type other than CONV/DSCONV, unbalanced braces.
    """
    tokens = _statements(text)
    constants: dict[str, int] = {}
    layers: list[MappedLayer] = []
    i = 0
    if tokens and not any(t[0].startswith(("Network", "Constant", "Dataflow")) for t in tokens[:1]):
        # Bare directives, no Dataflow keyword.
        dataflow, end = _dataflow_block([*tokens, ("}", tokens[-1][1])], 0, constants={}, source=source, line=1)
        return Mapping(source, dataflow=dataflow)
    while i < len(tokens):
        text_i, number = tokens[i]
        words = text_i.split()
        if words[0] == "Constant":
            m = _CONSTANT.match(text_i)
            if not m:
                raise _error(source, number, text_i, "expected 'Constant NAME value'")
            constants[m.group(1)] = int(m.group(2))
            i += 1
        elif words[0] == "Dataflow":
            if i + 1 >= len(tokens) or tokens[i + 1][0] != "{":
                raise _error(source, number, text_i, "expected '{' after Dataflow")
            dataflow, i = _dataflow_block(tokens, i + 2, constants=constants, source=source, line=number)
            if i < len(tokens):
                raise _error(source, tokens[i][1], tokens[i][0], "unexpected text after the Dataflow block")
            return Mapping(source, constants, dataflow=dataflow)
        elif words[0] == "Network":
            if i + 1 >= len(tokens) or tokens[i + 1][0] != "{":
                raise _error(source, number, text_i, "expected '{' after Network")
            i += 2
            while i < len(tokens) and tokens[i][0] != "}":
                head, line = tokens[i]
                if head.split()[0] != "Layer" or i + 1 >= len(tokens) or tokens[i + 1][0] != "{":
                    raise _error(source, line, head, "expected 'Layer name {' inside a Network")
                name = head.partition(" ")[2].strip() or "Layer"
                layer, i = _layer(tokens, i + 2, name=name, line=line, constants=constants, source=source)
                layers.append(layer)
            if i >= len(tokens):
                raise _error(source, number, text_i, "the Network has no closing '}'")
            i += 1
        else:
            raise _error(source, number, text_i, "unexpected line; expected Constant, Network or Dataflow")
    if not layers:
        raise _error(source, 1, "Network", "the file has no Layer with a Dataflow block")
    return Mapping(source, constants, tuple(layers))


def style_names() -> tuple[str, ...]:
    """Names of the built-in mapping styles (``kcp_ws``, ``rs_yp``, ``dla`` ...)."""
    return tuple(sorted(p.stem for p in MAPPING_DIR.glob("*.m")))


def load_mapping(style_or_path: str | Path) -> Mapping:
    """Load a built-in style by name, or a ``.m`` file by path.

    Raises:
        MappingError: The name is neither a built-in style nor a readable file, or the text is malformed.
    """
    path = Path(style_or_path)
    if path.suffix != ".m" and (MAPPING_DIR / f"{style_or_path}.m").is_file():
        path = MAPPING_DIR / f"{style_or_path}.m"
    if not path.is_file():
        raise MappingError(
            f"{style_or_path}: no such mapping file or built-in style (styles: {', '.join(style_names())})"
        )
    return parse_mapping(path.read_text(), source=str(path))


def resolve(extent: Extent, dims: dict[str, int], knobs: dict[str, int] | None = None) -> int:
    """The integer an extent stands for on one layer and design point."""
    if extent.dim:
        return dims[extent.dim]
    if extent.knob:
        if knobs is None or extent.knob not in knobs:
            raise MappingError(f"constant {extent.knob} is neither defined in the mapping nor given as a knob")
        return knobs[extent.knob]
    return extent.value


def check_layer(
    dataflow: Dataflow, dims: dict[str, int], *, num_pe: int | None = None, knobs: dict[str, int] | None = None
) -> None:
    """Apply MAESTRO's layer-dependent rules to one layer (and, if given, one PE count).

    Why. MAESTRO rejects a ``TemporalMap`` on R or S that does not cover the whole filter
    (``ykp_os``'s ``TemporalMap(Sz(R),7) R`` works only when R = 7), and divides by zero
    (SIGFPE) when the PE count is below the product of the cluster sizes.

    Raises:
        MappingError: The first rule broken, naming the file, line and directive.
    """
    for d in dataflow.directives:
        if isinstance(d, Map) and not d.spatial and d.dim in ("R", "S"):
            size, offset = resolve(d.size, dims, knobs), resolve(d.offset, dims, knobs)
            if size != offset:
                raise _error(
                    dataflow.source, d.line, str(d), f"tile size of {d.dim} ({size}) must equal its offset ({offset})"
                )
            if d.dim in dims and size != dims[d.dim]:
                raise _error(
                    dataflow.source,
                    d.line,
                    str(d),
                    f"tile size of {d.dim} ({size}) must equal the layer's {d.dim} ({dims[d.dim]})",
                )
    if num_pe is not None:
        product = 1
        for c in dataflow.clusters:
            product *= resolve(c.size, dims, knobs)
            if product > num_pe:
                raise _error(
                    dataflow.source,
                    c.line,
                    str(c),
                    f"clusters of {product} PEs in all exceed the {num_pe} PEs available",
                )
