"""The networks, the classifier that scores face crops, and where it looked (Grad-CAM)."""
