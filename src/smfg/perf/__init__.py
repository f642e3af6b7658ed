"""Performance, above the paper layer (:mod:`smfg.paper`): the benchmark (:mod:`.bench`),
scaling with the number of households (:mod:`.scaling`) and sweep estimates calibrated by the
benchmark (:mod:`.estimate`). Only the CLI imports it, and the scaling page of the book."""
