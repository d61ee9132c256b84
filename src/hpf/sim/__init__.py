"""Simulation: the deterministic demo city generator (``build_demo_center``)."""

from hpf.sim.generator import DemoSummary, build_demo_center

__all__ = ["DemoSummary", "build_demo_center"]
