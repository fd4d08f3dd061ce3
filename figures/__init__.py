"""Figure builders: plain functions, arrays in, ``plotly.graph_objects.Figure`` out."""
