"""The paper's side, above the run machinery (:mod:`smfg.runs`): its artefacts, what they
need, how they aggregate, and the simulations, benchmarks and scaling studies beside them."""
