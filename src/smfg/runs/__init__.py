"""Run machinery: the run store, training, batched seeds, certified curves and the sweep.

Everything here works on run specs (what :func:`smfg.runs.train.run_spec` returns) and knows
nothing of the paper's artefacts: the paper layer (``smfg.paper``) says which runs a
table or figure needs and hands their specs down.
"""
