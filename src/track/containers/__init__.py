"""Small data containers used by track (fixed-size ring buffer)."""
