"""What the editor (app/) and the PyTorch side (model/) share, with neither Qt nor PyTorch nor
ONNX Runtime: the model bundle format, the tokenizer, files and text, JSON configs, paths, the
log, units, errors and the machine's cores and memory. Nothing here imports app or model."""
