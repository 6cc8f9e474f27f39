"""Text to vectors: normalisation, the model, encoding and the FAISS index."""
