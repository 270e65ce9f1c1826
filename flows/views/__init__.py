"""Views of a run a designer looks at: layout pictures, heatmaps and marker databases."""
