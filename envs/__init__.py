"""The ConfuciuX problem as a Gymnasium environment."""
