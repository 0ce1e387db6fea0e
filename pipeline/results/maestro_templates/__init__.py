"""MAESTRO dataflow templates (package data): the ConfuciuX release's ``dla``, ``shi``, ``eye`` and ``dpt``.

Each ``<name>.m`` file is the ``Dataflow { ... }`` block that
:mod:`pipeline.maestro_export` pastes into a layer's mapping file; ``dpt`` is the
depthwise (DSCONV) template used for every layer with ``T = 2``.
"""
