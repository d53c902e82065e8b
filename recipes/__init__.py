"""Runnable experiments: ``python -m recipes.NAME``. Each composes library calls; no algorithm lives here."""
