"""The flow's stages, one module each, so that a stage's code digest covers exactly the code it runs."""
