"""Parents of object names, as v3.2 ``detect`` reports them (``{"object": "dog", "parent": {"object": "mammal",
"parent": {"object": "animal"}}}``). Only where the hierarchy is known (the COCO classes); other names get none."""

from __future__ import annotations

from types import MappingProxyType

_ANIMAL = ("animal",)
_MAMMAL = ("mammal", "animal")
_VEHICLE = ("vehicle",)
_LAND = ("land vehicle", "vehicle")
_FOOD = ("food",)
_FRUIT = ("fruit", "food")
_FURNITURE = ("furniture",)
_KITCHEN = ("kitchenware",)
_SPORT = ("sports equipment",)
_ELECTRONICS = ("electronic device",)
_APPLIANCE = ("home appliance",)

PARENTS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "person": (),
        "bicycle": _LAND, "car": _LAND, "motorcycle": _LAND, "bus": _LAND, "train": _LAND, "truck": _LAND,
        "airplane": ("aircraft", "vehicle"), "boat": ("watercraft", "vehicle"),
        "bird": _ANIMAL, "cat": _MAMMAL, "dog": _MAMMAL, "horse": _MAMMAL, "sheep": _MAMMAL, "cow": _MAMMAL,
        "elephant": _MAMMAL, "bear": _MAMMAL, "zebra": _MAMMAL, "giraffe": _MAMMAL,
        "backpack": ("bag",), "handbag": ("bag",), "suitcase": ("bag",), "tie": ("clothing",),
        "frisbee": _SPORT, "skis": _SPORT, "snowboard": _SPORT, "sports ball": _SPORT, "kite": ("toy",),
        "baseball bat": _SPORT, "baseball glove": _SPORT, "skateboard": _SPORT, "surfboard": _SPORT,
        "tennis racket": _SPORT,
        "bottle": ("container",), "wine glass": _KITCHEN, "cup": _KITCHEN, "fork": _KITCHEN, "knife": _KITCHEN,
        "spoon": _KITCHEN, "bowl": _KITCHEN,
        "banana": _FRUIT, "apple": _FRUIT, "orange": _FRUIT, "sandwich": _FOOD, "broccoli": ("vegetable", "food"),
        "carrot": ("vegetable", "food"), "hot dog": _FOOD, "pizza": _FOOD, "donut": _FOOD, "cake": _FOOD,
        "chair": ("seating", "furniture"), "couch": ("seating", "furniture"), "bed": _FURNITURE,
        "dining table": ("table", "furniture"), "potted plant": ("plant",), "toilet": ("bathroom fixture",),
        "sink": ("bathroom fixture",),
        "tv": ("display", "electronic device"), "laptop": ("computer", "electronic device"), "mouse": _ELECTRONICS,
        "remote": _ELECTRONICS, "keyboard": _ELECTRONICS, "cell phone": ("telephone", "electronic device"),
        "microwave": _APPLIANCE, "oven": _APPLIANCE, "toaster": _APPLIANCE, "refrigerator": _APPLIANCE,
        "hair drier": _APPLIANCE,
        "book": (), "clock": (), "vase": ("container",), "scissors": ("tool",), "teddy bear": ("toy",),
        "toothbrush": (),
        "traffic light": (), "fire hydrant": (), "stop sign": ("sign",), "parking meter": (), "bench": _FURNITURE,
        "umbrella": (),
    }
)  # fmt: skip


def parent_chain(name: str, confidence: float) -> dict[str, object] | None:
    """The nested ``parent`` object for ``name``, or None. Each parent carries the child's ``confidence``, as Azure's
    do: the hierarchy is a fixed table, so a parent is exactly as likely as the object it contains (a dog seen with
    0.8 is a mammal with at least 0.8; imagelens reports that bound rather than a separate score)."""
    chain = PARENTS.get(name.lower(), ())
    node: dict[str, object] | None = None
    for parent in reversed(chain):
        node = {"object": parent, "confidence": confidence, **({"parent": node} if node else {})}
    return node
