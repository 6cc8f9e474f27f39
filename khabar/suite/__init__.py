"""The evaluation suite: every development set through the real pipeline, out-of-fold."""
