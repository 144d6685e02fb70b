"""Decoding video files and sampling their frames (OpenCV, PyAV when OpenCV cannot)."""
