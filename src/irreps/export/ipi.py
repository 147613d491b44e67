"""An irreps model as an i-PI force client (the i-PI socket protocol through ASE's ``SocketClient``).

i-PI (extra ``irreps[ipi]``) integrates the dynamics (classical, path-integral with many beads,
thermostats, replica exchange, ...) and sends each geometry over a UNIX or TCP socket; the
client answers with energy, forces and, for a cell periodic in all three directions, the
virial (``-V sigma``). ASE converts between its units (Å, eV) and the protocol's atomic units.
One client serves all beads in turn; start several clients on the same address to evaluate
beads in parallel.
"""

from __future__ import annotations

import time

from ase import Atoms
from ase.calculators.calculator import Calculator
from ase.calculators.socketio import SocketClient


def connect(unix: str | None = None, host: str = "localhost", port: int | None = None, wait_s: float = 60.0) -> SocketClient:
    """A client connected to i-PI, retrying while i-PI starts and has not opened its socket yet.

    ``unix`` is the ``<address>`` of an ``<ffsocket mode='unix'>`` (the socket file is
    ``/tmp/ipi_<unix>``); otherwise ``host`` and ``port`` of an ``<ffsocket mode='inet'>``.
    """
    if (unix is None) == (port is None):
        raise ValueError("give either a UNIX socket name (unix=...) or a TCP port (port=...), not both or neither")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return SocketClient(unixsocket=unix) if unix is not None else SocketClient(host=host, port=port)
        except (FileNotFoundError, ConnectionRefusedError) as err:
            if time.monotonic() > deadline:
                where = f"UNIX socket /tmp/ipi_{unix}" if unix is not None else f"{host}:{port}"
                raise ConnectionError(f"no i-PI server answered at {where} within {wait_s:g} s") from err
            time.sleep(0.2)


def serve(calculator: Calculator, template: Atoms, client: SocketClient) -> int:
    """Answer i-PI's force requests for ``template``'s atoms until i-PI says EXIT.

    ``template`` fixes the atoms' elements in i-PI's order (its initial structure file) and
    whether the system is periodic: the virial is sent only when ``pbc`` is true in all three
    directions. Returns the number of geometries evaluated.
    """
    if template.pbc.any() and not template.pbc.all():
        raise ValueError(f"the template must be periodic in all three directions or in none, got pbc={template.pbc.tolist()}")
    atoms = template.copy()
    atoms.calc = calculator
    count = 0
    try:
        for _ in client.irun(atoms, use_stress=bool(atoms.pbc.all())):
            count += 1
    finally:
        client.close()
    return count
