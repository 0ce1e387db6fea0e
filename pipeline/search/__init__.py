"""Searches over a :class:`envs.problem.Problem`: exact optimum, baselines, ConfuciuX."""
