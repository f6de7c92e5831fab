"""Training data: loaders for the shared manifest and for real/ + generated/ folders,
splits by source, and the aligned-fake builder (TAEF2 autoencoder, Real-ESRGAN)."""

from .records import (
    ImageRecord,
    load_folder,
    load_manifest,
    load_pixels,
    split_records,
)

__all__ = ["ImageRecord", "load_folder", "load_manifest", "load_pixels", "split_records"]
