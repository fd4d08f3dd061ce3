"""Pure analysis: numpy in, numpy out. Only ``analysis.extraction`` and the modules it re-exports (models, layers, reductions, ablation) import Keras/TensorFlow."""
