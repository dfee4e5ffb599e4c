"""Shared by the offline fixture generators: the goldens' JSON index, written the same way by all."""
import json

from PIL import Image


def write_index(path, entries):
    """Writes `entries` (per file) with the Pillow version that made them, keys sorted."""
    with open(path, "w") as f:
        json.dump({**entries, "generator": {"pillow": Image.__version__}}, f, indent=1, sort_keys=True)
        f.write("\n")
