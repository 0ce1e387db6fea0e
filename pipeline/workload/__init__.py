"""Real networks in: import layer tables from PyTorch modules and ONNX files."""
