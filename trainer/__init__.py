"""Training IDM: the hand-written trainer (torchrun DDP, AMP, resumable checkpoints, TensorBoard)."""
