"""Table printing shared by the API server and the CLI: the cells kubectl shows and how it lays them out."""

from podrun.printers.pods import (
    POD_COLUMNS,
    human_duration,
    parse_timestamp,
    pod_row_conditions,
    print_pod,
    render_table,
    translate_timestamp_since,
)

__all__ = [
    "POD_COLUMNS",
    "human_duration",
    "parse_timestamp",
    "pod_row_conditions",
    "print_pod",
    "render_table",
    "translate_timestamp_since",
]
