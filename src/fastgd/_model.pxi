# Whole-model bindings (the MLP buffers and training step).
