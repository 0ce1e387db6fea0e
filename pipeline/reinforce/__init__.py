"""ConfuciuX's RL stage: a custom REINFORCE algorithm on RLlib's new API stack."""
