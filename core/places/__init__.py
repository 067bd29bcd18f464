"""Places: establishment -> wing -> cell, and which cell a device is in.

A device is enrolled to a cell; the cell gives its wing. The kiosk, the
reports and the pre-call test (its staff alert names the cell, for the staff
of its wing) read places from here rather than from free text.

The store holds the rules (`core/db/schema.py`): a wing's name is unique in
its establishment, a cell's name is unique in its establishment (so on its
wing too), a cell is on exactly one wing of its own establishment, and a
device's cell is in the device's establishment.

Until officers keep wings and cells on screens of their own (issue 13),
enrolling a device to a cell the establishment does not list yet adds that
cell, on the wing its name begins with ("A1-02" is on wing A); migration 0007
placed the devices enrolled before places existed by the same rule
(`wing_named_by`).

`core.places.cells` is the model (imported by identity's device registry);
`core.places.service.Places` keeps them and checks who may.
"""

from core.places.cells import (
    UNASSIGNED_WING,
    Cell,
    Wing,
    cell_by_id,
    cell_by_name,
    place_cell,
    place_name,
    wing_named_by,
)

__all__ = [
    "UNASSIGNED_WING",
    "Cell",
    "Wing",
    "cell_by_id",
    "cell_by_name",
    "place_cell",
    "place_name",
    "wing_named_by",
]
