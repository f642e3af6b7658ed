"""The paper's side, above the run machinery (:mod:`smfg.runs`): its artefacts, what they
need, how they aggregate, the facts each page glues, and the simulations and audits beside
them."""
