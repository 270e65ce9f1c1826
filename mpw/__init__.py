"""Multi-project wafer shuttles: the slots a design can take (:mod:`kchip.mpw.slots`, from the data in
``pdk/shuttles``) and the precheck of a layout against its slot (:mod:`kchip.mpw.precheck`)."""
