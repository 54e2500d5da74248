"""Tests of the synthetic merchant sample generator."""
