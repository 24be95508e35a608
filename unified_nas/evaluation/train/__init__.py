"""Training protocol and trial evaluation shared by the PyTorch-based backends."""
