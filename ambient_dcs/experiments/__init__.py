"""Experiments: the main job (:mod:`~ambient_dcs.experiments.main_job`) and the papers' experiments
(``ambient_grid``, ``ambient_diffusion``, ``csgm_vs_lasso``, ``dcs_table``, ``csgan_experiments``,
``prior_training``), each a library function that returns its results and writes its tables;
``python -m recipes.NAME`` runs one."""

from . import main_job

__all__ = ["main_job"]
