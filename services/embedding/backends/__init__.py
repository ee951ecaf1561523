"""Embedding backends behind one interface: local MiniLM (PyTorch or ONNX), OpenAI."""
