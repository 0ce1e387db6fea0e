"""Regenerate the true layer tables of the catalog networks from the zoo.

Run as ``python -m confx.pipeline.workload.build_catalog costmodel/catalog/true``. Each network is
written as ``<name>.csv`` with the file names of ConfuciuX's catalog (``costmodel/catalog``), and a
line per network gives its layer count, total true MACs and source.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from confx.pipeline.workload.sources import import_network

#: Catalog file name -> source; the first twelve are ConfuciuX's networks.
CATALOG = {
    "alexnet": "zoo:alexnet",
    "densenet": "zoo:densenet121",
    "googlenet": "zoo:googlenet",
    "mnasnet": "zoo:mnasnet1_0",
    "mobilenet_v2": "zoo:mobilenet_v2",
    "resnet18": "zoo:resnet18",
    "resnet50": "zoo:resnet50",
    "resnext50_32x4d": "zoo:resnext50_32x4d",
    "shufflenet_v2": "zoo:shufflenet_v2_x1_0",
    "squeezenet": "zoo:squeezenet1_0",
    "vgg16": "zoo:vgg16",
    "wide_resnet50": "zoo:wide_resnet50_2",
    "convnext_tiny": "zoo:convnext_tiny",
    "efficientnet_b0": "zoo:efficientnet_b0",
    "inception_v3": "zoo:inception_v3",
    "mobilenet_v3_large": "zoo:mobilenet_v3_large",
    "regnet_x_400mf": "zoo:regnet_x_400mf",
}


def build_catalog(out_dir: str | Path) -> list[str]:
    """Import every catalog network at its native input size and write its table; returns one line each."""
    lines = []
    for name, source in CATALOG.items():
        network = import_network(source)
        network.write_csv(Path(out_dir) / f"{name}.csv")
        lines.append(f"{name:20s} {network.n_layers:4d} layers {network.total_macs / 1e9:8.3f} GMACs  {source}")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="folder for the CSV files, e.g. costmodel/catalog/true")
    args = parser.parse_args(argv)
    for line in build_catalog(args.out_dir):
        print(line)


if __name__ == "__main__":
    main()
