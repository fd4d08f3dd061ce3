"""Pure analysis: numpy in, numpy out. Only ``analysis.extraction`` imports Keras/TensorFlow."""
