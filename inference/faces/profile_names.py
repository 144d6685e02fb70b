"""The names of the preprocessing profiles (:data:`inference.faces.profiles.PROFILES`), without
their OpenCV and dlib machinery: for the command's options, which must load fast."""

PROFILE_NAMES = ("training", "app")
