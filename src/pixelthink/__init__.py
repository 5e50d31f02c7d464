"""pixelthink: efficient reasoning segmentation (PixelThink)."""

__version__ = "0.1.0"
