"""Places: establishment -> wing -> cell, and which cell a device is in.

A device is enrolled to a cell; the cell gives its wing. The kiosk, the
reports and the pre-call test (its staff alert names the cell, for the staff
of its wing) read places from here rather than from free text.

The store holds the rules (`core/db/schema.py`): a wing's name is unique in
its establishment, a cell's name is unique in its establishment (so on its
wing too), a cell is on exactly one wing of its own establishment, and a
device's cell is in the device's establishment.

Officers of the establishment and admins keep wings and cells (the `/people`
page, `throughcare places`). Nothing else adds one: enrolling a device, or
moving a device or a prisoner, names a cell the establishment already lists,
and a name it does not list is refused (issue 13; until then enrolment added
the cell on the way, which let a typo become a cell).

`core.places.cells` is the model (imported by identity's device registry);
`core.places.service.Places` keeps them and checks who may.
"""

from core.places.cells import (
    Cell,
    Wing,
    add_cell,
    add_wing,
    cell_by_id,
    cell_by_name,
    cell_in,
    place_name,
    wing_in,
)

__all__ = [
    "Cell",
    "Wing",
    "add_cell",
    "add_wing",
    "cell_by_id",
    "cell_by_name",
    "cell_in",
    "place_name",
    "wing_in",
]
