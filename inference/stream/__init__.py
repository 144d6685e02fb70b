"""Live streams judged while they play (see :mod:`inference.stream.analyser`)."""
