"""The caseload reads exactly what a caseload row shows: no special-category data leaves the
database for a list, and no field of the API's list item is left empty for want of a column."""

from services.api.youths import Youth
from services.api.reads import CASELOAD_COLUMNS


def test_the_caseload_reads_the_columns_of_a_list_item_and_nothing_else():
    assert set(CASELOAD_COLUMNS) == set(Youth.model_fields)
    assert "vulnerabilities" not in CASELOAD_COLUMNS
