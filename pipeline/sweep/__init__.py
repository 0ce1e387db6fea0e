"""Sweeps: the YAML config, the plan of trials, the Tune driver, one trial, Optuna tuning, the nightly scan."""
