"""Renderers: draw frame t from the source frame and its tracked and edited keypoints."""
