"""kchip: a chip design-flow workbench from Amaranth RTL to an MPW-ready SKY130 layout."""

__version__ = "0.1.0"
