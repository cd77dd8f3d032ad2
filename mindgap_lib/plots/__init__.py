"""Figures of the chapters (plotly), kept out of the computation packages."""
