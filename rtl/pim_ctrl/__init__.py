"""DRAM controller with an all-bank processing-in-memory extension (HBM-PIM style).

- :mod:`.timing`: JEDEC timing parameters as data, with DDR4-3200 and HBM2 presets.
- :mod:`.isa`: encodings on the controller's ports (requests, commands, modes, PIM operations).
- :mod:`.controller`: the Amaranth controller, :class:`~.controller.PimController`.
- :mod:`.gemv`: the host side of the GEMV offload (W striped over banks, the request stream).
"""
