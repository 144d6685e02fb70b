"""Finding, following and cropping faces, with the boxes of the detectors the weights were trained with."""
