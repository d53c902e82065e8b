"""Reporting: figures (PNG), tables (Markdown, CSV), run records (JSON)."""

from .figures import image_grid, save_array_image, save_comparison_grid, save_error_plot, save_image_grid
from .tables import machine_description, markdown_table, prepare_output_dir, write_csv, write_json

__all__ = ["image_grid", "save_image_grid", "save_array_image", "save_error_plot", "save_comparison_grid",
           "markdown_table", "write_csv", "write_json", "prepare_output_dir", "machine_description"]
