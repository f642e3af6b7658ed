"""Performance, above the paper layer (:mod:`smfg.paper`): the benchmark (:mod:`.bench`, its
training epochs in :mod:`.bench_training`), the cost of a growing number of households
(:mod:`.scaling`; whether results settle is the paper layer's :mod:`smfg.paper.mean_field`)
and sweep estimates calibrated by the benchmark (:mod:`.estimate`). Only the CLI imports it,
and the scaling page of the book (its timings)."""
