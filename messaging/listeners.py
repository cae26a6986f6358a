"""Wires the on-commit signals of messaging.signals to their consumers.

Each consumer module exposes plain functions; this is the one place that connects them,
so "who reacts to a status change" is answered by reading this file.
"""
