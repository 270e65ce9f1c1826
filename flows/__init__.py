"""Luigi flow stages from RTL to an MPW-ready layout."""
