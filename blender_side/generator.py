"""The base class of every Blender-side data generator (docs/data.md).

A ``Generator`` owns a Blender scene that it builds (or finds in an opened .blend file) once, and poses it
anew for every item of a data stream. Item *i* of a stream seeded *s* is made with its own random generator,
``numpy.random.default_rng([s, i])``, and the current parameter values only, so that the same seed gives the
same items in whichever process, and in whatever order, they are made. blendgym renders the item's images
and labels (labels.py) after ``generate`` has posed the scene.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import bpy
import numpy as np

from .parameters import Parameterized


class Generator(Parameterized, abc.ABC):
    """A scene made anew for every item of a data stream.

    Subclasses build their scene in ``__init__`` (after calling ``super().__init__()``) and implement
    ``generate``. ``parameters`` declares what the host may change while streaming, as for envs
    (``blendgym_blender.parameters``); each item's request carries the values it is to be made with, and
    ``apply_parameters`` puts changed ones into the scene before ``generate`` runs.
    """

    # Data attributes that hosts may read and set (docs/protocol.md, "Attributes"); subclasses list their own.
    remote_attributes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, scene: bpy.types.Scene | None = None) -> None:
        super().__init__()
        self.scene = scene if scene is not None else bpy.context.scene

    @abc.abstractmethod
    def generate(self, rng: np.random.Generator) -> dict[str, Any]:
        """Pose the scene for one item, drawing everything random from ``rng`` (and nothing else) and the
        values in ``self.params``; return the item's own labels as JSON.

        A ``"objects"`` entry, ``{object name: {...}}``, adds its fields to those objects' entries of the
        item's object table (a class name, say); the rest is kept as it is under the item's ``"labels"``.
        """

    def labelled_objects(self) -> list[bpy.types.Object]:
        """The objects that get an id, a pose, a box and projected points in every item, in id order (1, 2, ...).

        By default every mesh of the scene that renders (``hide_render`` off); override it to leave out
        the floor, a table or walls: they still hide what lies behind them.
        """
        return [obj for obj in self.scene.objects if obj.type == "MESH" and not obj.hide_render]
