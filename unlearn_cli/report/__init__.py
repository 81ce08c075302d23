"""Reports over many evaluations: runs grouped by setting and method, mean ± std over seeds,
summary.md, summary.parquet and PNG plots (the `report` step writes them)."""

from unlearn_cli.report.directions import DIRECTIONS, Direction, direction_of
from unlearn_cli.report.markdown import format_cell, report_markdown
from unlearn_cli.report.plots import Plot, plan_plots, save_plot
from unlearn_cli.report.runs import RunRecord, Setting, read_record
from unlearn_cli.report.summary import Cell, Row, Section, summarize
from unlearn_cli.report.tables import long_table, summary_rows, to_csv

__all__ = [
    "DIRECTIONS", "Cell", "Direction", "Plot", "Row", "RunRecord", "Section", "Setting", "direction_of",
    "format_cell", "long_table", "plan_plots", "read_record", "report_markdown", "save_plot", "summarize",
    "summary_rows", "to_csv",
]
