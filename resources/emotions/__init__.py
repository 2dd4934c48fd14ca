"""Emotion presets per tracker (made by tools/make_emotions.py)."""
