"""Readers and writers of EDA file formats shared by the tool wrappers and the flow: liberty, SDC, LEF, DEF."""
