"""Learning algorithms on a small shared core: behaviour cloning, SMFRL and the baselines."""
