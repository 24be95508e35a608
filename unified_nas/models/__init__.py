"""Stage 6, models: a network plan made real, as a torch module or a Keras model (the same network), and ONNX."""
