"""Searches, sweeps, tracking and results: everything above the cost model and environment."""
