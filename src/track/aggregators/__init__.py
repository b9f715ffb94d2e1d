"""Aggregators: containers deciding how repeated metric values are kept."""
