"""ConfX: design-space exploration of DNN accelerators after ConfuciuX (MICRO 2020)."""
