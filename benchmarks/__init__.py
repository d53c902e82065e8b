"""Speed and scale measurements (``python -m benchmarks.run``), arriving with issue 7."""
